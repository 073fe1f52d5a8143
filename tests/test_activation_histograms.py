"""probes=activation_histograms: each activation layer's histogram at initialization and after training
(Glorot & Bengio 2010), in TensorBoard, and the init sweep's report draws them."""

import pytest
import torch
import yaml
from torch import nn

from netopt.data import Data, Split
from netopt.probes import ProbeContext
from netopt.probes.activation_histograms import ActivationHistograms
from netopt.report.runs import histograms

WIDTH, BATCH = 32, 64


class Histograms:
    """A recorder that keeps every histogram: {tag: [(step, edges, counts)]}."""

    def __init__(self) -> None:
        self.logged: dict[str, list[tuple[int, list[float], list[float]]]] = {}

    def scalars(self, values, step) -> None:
        pass

    def histogram(self, tag, edges, counts, step) -> None:
        self.logged.setdefault(tag, []).append((step, list(edges), list(counts)))


def _net(std: float, activation: type[nn.Module] = nn.Tanh, depth: int = 6) -> nn.Sequential:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(WIDTH, WIDTH), activation()]
    net = nn.Sequential(*layers, nn.Linear(WIDTH, 2))
    with torch.no_grad():
        for module in net:
            if isinstance(module, nn.Linear):
                module.weight.normal_(0.0, std)
                module.bias.zero_()
    return net


def _inputs() -> torch.Tensor:
    return torch.randn(200, WIDTH, generator=torch.Generator().manual_seed(1))


def _probe(net: nn.Module, **options) -> tuple[ActivationHistograms, Histograms, torch.Tensor]:
    x = _inputs()
    y = torch.zeros(200, dtype=torch.long)
    writer = Histograms()
    context = ProbeContext(net, torch.optim.SGD(net.parameters(), lr=0.1), recorder=writer)
    context.data = Data(Split(x, y), Split(x[:0], y[:0]), Split(x, y), 2)
    return ActivationHistograms(context, **options), writer, x


def _train_steps(net: nn.Module, probe: ActivationHistograms, x: torch.Tensor, steps: int) -> None:
    optimizer = probe.context.optimizer
    for step in range(steps):
        net.eval()
        net(x[:10])  # an evaluation pass counts nothing
        net.train()
        loss = net(x[:BATCH]).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        probe.on_step(step)


def test_each_layer_is_counted_at_step_0_and_after_the_last_step():
    net = _net(1.0 / WIDTH**0.5)
    probe, writer, x = _probe(net)
    _train_steps(net, probe, x, 3)
    assert all(len(found) == 1 for found in writer.logged.values())  # only step 0's so far
    ends = probe.on_fit_end()["end_bin_share"]
    assert list(writer.logged) == [f"act_hist/{i}.Tanh" for i in range(1, 12, 2)]
    for found in writer.logged.values():
        (start, edges, at_init), (end, _, after) = found
        assert (start, end) == (0, 3)
        assert len(edges) == 51 and edges[0] == -1.0 and edges[-1] == 1.0  # tanh's own range
        assert sum(at_init) == BATCH * WIDTH  # the first training batch only
        assert sum(after) == 200 * WIDTH  # the fixed subset of the training split, all of it here
    assert net.training  # the mode the run was in
    after = [torch.tensor(found[1][2]) for found in writer.logged.values()]
    assert ends == pytest.approx(sum(float(c[0] + c[-1]) for c in after) / (6 * 200 * WIDTH))
    probe.close()


@pytest.mark.parametrize(
    ("std", "where"),
    [(0.01, "middle"), (1.0 / WIDTH**0.5, "spread"), (0.5, "ends")],
)
def test_the_deepest_layer_shows_a_vanishing_a_healthy_or_a_saturated_signal(std, where):
    """Glorot & Bengio's picture: N(0, 0.01^2) squeezes the deep tanh layers into the bins at 0,
    Xavier's variance (1 / fan_in) spreads them, N(0, 0.5^2) (8 times Xavier's std here) piles them
    at +-1."""
    net = _net(std)
    probe, writer, x = _probe(net)
    _train_steps(net, probe, x, 1)
    _, edges, counts = writer.logged["act_hist/11.Tanh"][0]
    share = torch.tensor(counts) / sum(counts)
    middle, ends = share[24:26].sum().item(), (share[0] + share[-1]).item()  # |a| < 0.04; |a| > 0.96
    if where == "middle":
        assert middle == 1.0
    elif where == "spread":
        assert middle < 0.5 and ends < 0.05
    else:
        assert ends > 0.4


def test_an_unbounded_activation_is_binned_on_span_and_beyond_it_in_the_end_bins():
    net = _net(2.0 / WIDTH**0.5, nn.ReLU, depth=2)
    out = net[:4](_inputs()[:BATCH]).detach()  # the second ReLU's output before any update
    probe, writer, x = _probe(net, bins=10, span=[-1.0, 1.0])
    _train_steps(net, probe, x, 1)
    _, edges, counts = writer.logged["act_hist/3.ReLU"][0]
    assert edges[0] == -1.0 and edges[-1] == 1.0 and len(counts) == 10
    assert counts[-1] == (out >= 0.8).sum().item()  # a > 1 counts in the last bin
    assert sum(counts[:5]) == 0 and counts[5] == (out < 0.2).sum().item()  # the zeros of ReLU


def test_a_miniature_init_sweep_draws_the_histograms_in_its_report(cli, tmp_path):
    sweep = tmp_path / "sweep"
    status, err = cli(
        "experiment=init",
        "init=gaussian,xavier_normal",
        "model.activation=tanh",
        "trainer.seed=0",
        "model.depth=3",
        "model.width=16",
        "trainer.max_epochs=1",
        "trainer.limit_batches=2",
        f"hydra.sweep.dir={sweep}",
    )
    assert status == 0, err
    runs = sorted(path.parent for path in sweep.rglob("metrics.json"))
    assert len(runs) == 2
    for run in runs:
        found = histograms(run, ["act_hist/*"])
        assert len(found) == 3  # one tag per tanh layer
        assert all([step for step, _, _ in events] == [0, 2] for events in found.values())
    md = (sweep / "report.md").read_text()
    assert "](histograms_1.png)" in md and "act_hist/*: each layer's normalized histogram" in md
    assert (sweep / "histograms_1.png").stat().st_size > 20_000
    series = yaml.safe_load((sweep / "multirun.yaml").read_text())["hydra"]["callbacks"]["summary"]["series"]
    assert "act_hist/*" in series
