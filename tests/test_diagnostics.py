"""The layer_stats and effective_lr probes: per-layer activation statistics, gradient norms and
effective learning rates every N steps, train forwards only; the run's summaries signal_ratio,
preact_shift and effective_lr_rise, against hand computations."""

import io
import math
import statistics

import pytest
import torch
import torch.nn.functional as F
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import Tensor, nn

import netopt.optim as netopt_optim
from netopt import init
from netopt.models.mlp import MLP
from netopt.nn.norm import BatchNormalization, Normalization, WeightNormalization
from netopt.optim import SGD
from netopt.probes import ProbeContext
from netopt.probes.effective_lr import RISE_RTOL, EffectiveLR
from netopt.probes.layer_stats import LayerStats
from tests.helpers import compose_config, read_metrics, train


class Writer:
    def __init__(self) -> None:
        self.logged: dict[int, dict[str, float]] = {}

    def scalars(self, values, step):
        self.logged[step] = dict(values)


def _names(model: nn.Module, kind: type[nn.Module]) -> list[str]:
    """``"<module path>.<class>"`` of every ``kind`` module in order, as LayerStats names them."""
    return [f"{name}.{type(m).__name__}" for name, m in model.named_modules() if isinstance(m, kind)]


class Following:
    """A model, an optimizer (SGD, lr 0.01, by default) and the layer_stats and effective_lr probes
    following its steps into a Writer, as the loop calls them (on_step after every step)."""

    def __init__(self, model: nn.Module, every: int, optimizer: torch.optim.Optimizer | None = None) -> None:
        self.model, self.writer = model, Writer()
        self.optimizer = optimizer or SGD(model.parameters(), lr=0.01)
        self.context = ProbeContext(model, self.optimizer, recorder=self.writer)
        self.stats, self.rates = LayerStats(self.context, every), EffectiveLR(self.context, every)
        self.t = 0

    def step(self, x: Tensor | None = None, y: Tensor | None = None) -> None:
        """One optimizer step on (x, y), a random batch by default."""
        x = torch.randn(32, 1, 8, 8) if x is None else x
        y = torch.randint(0, 10, (len(x),)) if y is None else y
        self.optimizer.zero_grad()
        F.cross_entropy(self.model(x), y).backward()
        self.optimizer.step()
        logged = {}
        for probe in (self.stats, self.rates):  # both write at the same step: merge them
            probe.on_step(self.t)
            logged |= self.writer.logged.pop(self.t, {})
        if logged:
            self.writer.logged[self.t] = logged
        self.t += 1

    def on_fit_end(self) -> dict:
        return self.stats.on_fit_end() | self.rates.on_fit_end()

    def state_dict(self) -> dict:
        return {"stats": self.stats.state_dict(), "rates": self.rates.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.stats.load_state_dict(state["stats"])
        self.rates.load_state_dict(state["rates"])


def _mlp(depth: int = 2, width: int = 16, activation: str = "tanh", norm: Normalization | None = None) -> MLP:
    return MLP(
        (1, 8, 8), 10, norm or Normalization(), dropout=0.0, depth=depth, width=width, activation=activation
    )


def test_logs_activation_statistics_and_gradient_norms_of_every_layer():
    torch.manual_seed(0)
    model = _mlp()
    run = Following(model, every=1)
    inputs, outputs = [], []
    first_tanh = next(m for m in model.modules() if isinstance(m, nn.Tanh))
    first_tanh.register_forward_pre_hook(lambda m, i: inputs.append(i[0].detach()))
    first_tanh.register_forward_hook(lambda m, i, o: outputs.append(o.detach()))
    run.step()
    logged = run.writer.logged[0]
    linears, tanhs = _names(model, nn.Linear), _names(model, nn.Tanh)
    assert len(linears) == 3 and len(tanhs) == 2
    assert set(logged) == {
        f"{stat}/{layer}" for stat in ("act_mean", "act_std") for layer in linears + tanhs
    } | {f"{stat}/{layer}" for stat in ("preact_mean", "preact_std", "saturation") for layer in tanhs} | {
        f"grad_norm/{layer}" for layer in linears
    }
    assert logged[f"saturation/{tanhs[0]}"] == (outputs[0].abs() > 0.99).float().mean().item()
    assert logged[f"act_std/{tanhs[0]}"] == pytest.approx(outputs[0].std().item(), rel=1e-5)
    assert logged[f"act_mean/{tanhs[0]}"] == pytest.approx(outputs[0].mean().item(), rel=1e-5, abs=1e-7)
    assert logged[f"preact_std/{tanhs[0]}"] == pytest.approx(inputs[0].std().item(), rel=1e-5)
    assert logged[f"preact_mean/{tanhs[0]}"] == pytest.approx(inputs[0].mean().item(), rel=1e-5, abs=1e-7)
    first = model.layers[1]
    expected = math.hypot(first.weight.grad.norm().item(), first.bias.grad.norm().item())
    assert logged[f"grad_norm/{linears[0]}"] == pytest.approx(expected, rel=1e-5)


def test_logs_every_n_steps_and_ignores_evaluation():
    model = _mlp(depth=1, width=8, activation="relu")
    assert not LayerStats(ProbeContext(model, SGD(model.parameters())), every=1).stats  # nothing yet
    run = Following(model, every=3)
    for _ in range(7):
        run.step()
        assert not run.stats.stats  # nothing kept between steps
    assert sorted(run.writer.logged) == [0, 3, 6]
    model.eval()
    model(torch.randn(4, 1, 8, 8))
    assert not run.stats.stats
    run.stats.close()
    model.train()
    model(torch.randn(4, 1, 8, 8))
    assert not run.stats.stats


def test_weight_norm_layers_report_the_gradient_of_g_and_v():
    model = _mlp(depth=1, width=8, activation="relu", norm=WeightNormalization())
    run = Following(model, every=1)
    run.step()
    assert run.writer.logged[0]["grad_norm/layers.1.ParametrizedLinear"] > 0


@pytest.mark.parametrize(
    ("initializer", "vanishes"), [(init.Gaussian(std=0.01), True), (init.XavierNormal(), False)]
)
def test_shows_the_signal_vanishing_in_a_deep_tanh_net(initializer, vanishes):
    torch.manual_seed(0)
    model = _mlp(depth=8, width=64)
    initializer(model)
    run = Following(model, every=1)
    run.step()
    logged = run.writer.logged[0]
    tanhs, linears = _names(model, nn.Tanh), _names(model, nn.Linear)
    act_ratio = logged[f"act_std/{tanhs[-1]}"] / logged[f"act_std/{tanhs[0]}"]
    grad_ratio = logged[f"grad_norm/{linears[0]}"] / logged[f"grad_norm/{linears[-2]}"]  # first / last hidden
    assert (act_ratio < 1e-6 and grad_ratio < 1e-6) if vanishes else (act_ratio > 0.1 and grad_ratio > 0.1)


def test_a_resumed_probe_counts_steps_from_the_resumed_step():
    model = _mlp(depth=1, width=8, activation="relu")
    first = Following(model, every=2)
    for _ in range(5):  # steps 0 to 4
        first.step()
    first.stats.close()
    run = Following(model, every=2)
    run.load_state_dict(first.state_dict())  # as the checkpoint carries it
    run.t = 5  # the loop's step
    for _ in range(4):  # steps 5, 6, 7, 8
        run.step()
    assert sorted(run.writer.logged) == [6, 8]
    assert "act_std/layers.1.Linear" in run.writer.logged[6]


# --- the summaries -------------------------------------------------------------------------------


def test_signal_ratio_is_the_last_over_the_first_activation_std_on_the_first_batch():
    torch.manual_seed(0)
    model = _mlp(depth=3)
    run = Following(model, every=1, optimizer=SGD(model.parameters(), lr=0.5))
    tanhs = [m for m in model.modules() if isinstance(m, nn.Tanh)]
    x = torch.randn(32, 1, 8, 8)
    with torch.no_grad():
        hidden = model.layers[:-1](x)  # the last tanh's output
        first = tanhs[0](model.layers[1](x.flatten(1)))
    run.step(x)
    for _ in range(3):  # later steps change the weights, not the ratio taken at initialization
        run.step()
    assert run.on_fit_end()["signal_ratio"] == pytest.approx((hidden.std() / first.std()).item(), rel=1e-5)


@pytest.mark.parametrize(
    ("initializer", "low", "high"), [(init.Gaussian(std=0.01), 0, 0.01), (init.XavierNormal(), 0.2, 1.0)]
)
def test_signal_ratio_vanishes_with_a_small_fixed_variance_and_not_with_xavier(initializer, low, high):
    """The init preset's network: 10 tanh layers of width 128."""
    torch.manual_seed(0)
    model = _mlp(depth=10, width=128)
    initializer(model)
    run = Following(model, every=10)
    run.step()
    assert low < run.on_fit_end()["signal_ratio"] < high


def test_preact_shift_is_the_spread_of_each_layers_mean_over_its_mean_std_averaged_over_layers():
    torch.manual_seed(0)
    model = _mlp(depth=2)
    run = Following(model, every=2, optimizer=SGD(model.parameters(), lr=0.5))
    tanhs = [m for m in model.modules() if isinstance(m, nn.Tanh)]
    seen: list[list[Tensor]] = [[] for _ in tanhs]  # per layer, per step: its input
    for module, inputs in zip(tanhs, seen, strict=True):
        module.register_forward_hook(lambda m, i, o, inputs=inputs: inputs.append(i[0].detach()))
    for _ in range(7):  # logged at steps 0, 2, 4, 6
        run.step()
    shifts = []
    for inputs in seen:
        logged = inputs[::2]
        means, stds = [x.mean().item() for x in logged], [x.std().item() for x in logged]
        shifts.append(statistics.pstdev(means) / statistics.fmean(stds))
    assert all(shift > 0.01 for shift in shifts)  # the means did move
    assert run.on_fit_end()["preact_shift"] == pytest.approx(statistics.fmean(shifts), rel=1e-4)


def test_unit_shift_is_each_hidden_units_drift_before_the_norm_averaged_over_units_and_layers():
    """Per unit of every hidden Linear's output (the classifier's left out), behind batch norm too."""
    torch.manual_seed(0)
    model = _mlp(depth=2, norm=BatchNormalization())
    run = Following(model, every=2, optimizer=SGD(model.parameters(), lr=0.5))
    hidden = [m for m in model.modules() if isinstance(m, nn.Linear)][:-1]
    seen: list[list[Tensor]] = [[] for _ in hidden]
    for module, outputs in zip(hidden, seen, strict=True):
        module.register_forward_hook(lambda m, i, o, outputs=outputs: outputs.append(o.detach()))
    for _ in range(7):  # logged at steps 0, 2, 4, 6
        run.step()
    shifts = []
    for outputs in seen:
        logged = torch.stack(outputs[::2]).double()  # (t, batch, unit)
        means, stds = logged.mean(dim=1), logged.std(dim=1)
        shifts.append((means.std(dim=0, correction=0) / stds.mean(dim=0)).mean().item())
    assert run.on_fit_end()["unit_shift"] == pytest.approx(statistics.fmean(shifts), rel=1e-4)


@pytest.mark.parametrize(("std", "low", "high"), [(0.5, 0.5, 1.0), (None, 0.0, 0.05)])
def test_saturation_is_the_share_of_tanh_outputs_beyond_0_99_on_the_first_batch(std, low, high):
    """The init preset's deep tanh net: N(0, 0.5^2) saturates it though its signal_ratio is near 1;
    Xavier does not."""
    torch.manual_seed(0)
    model = _mlp(depth=10, width=128)
    (init.Gaussian(std=std) if std else init.XavierNormal())(model)
    run = Following(model, every=10)
    run.step()
    assert low < run.on_fit_end()["saturation"] < high


def test_batch_norm_holds_the_preactivation_mean_in_place():
    """Batch norm's output has mean beta (0 at initialization, small after a few steps) on every batch."""
    shifts = {}
    for norm in ("none", "batch"):
        torch.manual_seed(0)
        model = _mlp(depth=3, norm=BatchNormalization() if norm == "batch" else None)
        run = Following(model, every=1, optimizer=SGD(model.parameters(), lr=0.5))
        for _ in range(10):
            run.step()
        shifts[norm] = run.on_fit_end()["preact_shift"]
    assert shifts["batch"] < shifts["none"]


def _medians(optimizer: torch.optim.Optimizer, model: nn.Module) -> list[float]:
    """Each Linear layer's median effective lr (interpolated between the middle two, as logged)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return [torch.quantile(optimizer.effective_lr(m.weight).flatten(), 0.5).item() for m in linears]


def test_effective_lr_rise_is_the_largest_relative_rise_of_a_layers_median_rate():
    torch.manual_seed(0)
    model = _mlp(depth=2)
    optimizer = netopt_optim.RMSprop(model.parameters(), lr=0.01, alpha=0.5)  # forgets fast: rises
    run = Following(model, every=1, optimizer=optimizer)
    medians = []
    for _ in range(8):
        run.step()
        medians.append(_medians(optimizer, model))
    rises = [
        now / before - 1
        for previous, current in zip(medians, medians[1:], strict=False)
        for before, now in zip(previous, current, strict=True)
        if now > before * (1 + RISE_RTOL)
    ]
    assert 1 < len(rises) < 7 * 3  # some rose, some did not
    assert run.on_fit_end()["effective_lr_rise"] == pytest.approx(max(rises), rel=1e-5)


@pytest.mark.parametrize("name", ["Adagrad", "RMSprop", "Adadelta", "Adam"])
def test_adagrad_rate_never_rises_the_others_do(name):
    torch.manual_seed(0)
    model = _mlp(depth=2, activation="relu")
    run = Following(model, every=1, optimizer=getattr(netopt_optim, name)(model.parameters()))
    for _ in range(20):
        run.step()
    rise = run.on_fit_end()["effective_lr_rise"]
    assert rise == 0.0 if name == "Adagrad" else rise > 0


@pytest.mark.parametrize(("rates", "rise"), [([1.0, 1.0 + 1e-7, 0.5], 0.0), ([1.0, 0.5, 0.6, 0.55], 0.2)])
def test_effective_lr_rise_takes_rises_below_its_tolerance_for_float_noise(rates, rise):
    """Every weight's rate at the t-th step is rates[t]; 1 + 1e-7 is one float32 ulp above 1."""
    model = _mlp(depth=1)
    optimizer = SGD(model.parameters(), lr=0.01)
    scripted, current = iter(rates), {}
    optimizer.register_step_pre_hook(lambda *_: current.update(rate=next(scripted)))
    optimizer.effective_lr = lambda param: torch.full_like(param, current["rate"])
    run = Following(model, every=1, optimizer=optimizer)
    for _ in rates:
        run.step()
    assert run.on_fit_end()["effective_lr_rise"] == pytest.approx(rise, rel=1e-6)


def test_sgd_has_no_effective_lr_rise():
    run = Following(_mlp(depth=1), every=1)
    run.step()
    assert set(run.on_fit_end()) == {"signal_ratio", "saturation", "preact_shift", "unit_shift"}


def test_a_resumed_layer_stats_sums_up_as_one_that_ran_through():
    def start() -> Following:
        torch.manual_seed(0)
        model = _mlp(depth=2)
        return Following(model, every=2, optimizer=netopt_optim.Adam(model.parameters(), lr=0.01))

    straight, interrupted = start(), start()
    batches = [(torch.randn(32, 1, 8, 8), torch.randint(0, 10, (32,))) for _ in range(9)]
    for x, y in batches:
        straight.step(x, y)
    for x, y in batches[:5]:
        interrupted.step(x, y)
    buffer = io.BytesIO()
    torch.save(interrupted.state_dict(), buffer)  # as the checkpoint carries it
    interrupted.stats.close()
    resumed = Following(interrupted.model, every=2, optimizer=interrupted.optimizer)
    buffer.seek(0)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    resumed.t = 5
    for x, y in batches[5:]:
        resumed.step(x, y)
    assert resumed.on_fit_end() == pytest.approx(straight.on_fit_end(), rel=1e-12)


# --- through the runner ------------------------------------------------------------------------


def test_the_runner_logs_layer_statistics_to_tensorboard(tmp_path):
    train(
        tmp_path,
        "debug=fast",
        "probes=[layer_stats,effective_lr]",
        "probes.layer_stats.every=2",
        "probes.effective_lr.every=2",
        "model.depth=1",
        "optimizer=adam",
    )
    tags = EventAccumulator(str(tmp_path)).Reload().Tags()["scalars"]
    assert {"grad_norm/layers.1.Linear", "act_std/layers.2.ReLU", "act_mean/layers.3.Linear"} <= set(tags)
    assert {"preact_mean/layers.2.ReLU", "preact_std/layers.2.ReLU"} <= set(tags)
    assert {"optim/effective_lr_median/layers.1.Linear", "optim/effective_lr_p90/layers.3.Linear"} <= set(
        tags
    )
    steps = [
        event.step for event in EventAccumulator(str(tmp_path)).Reload().Scalars("grad_norm/layers.1.Linear")
    ]
    assert steps == [0, 2]


RUN = ("debug=fast", "model.depth=2", "optimizer=adam", "dataset.train_size=400")
PROBES = ("probes=[layer_stats,effective_lr]", "probes.layer_stats.every=1", "probes.effective_lr.every=1")


def test_a_run_records_the_summaries_in_its_metrics(tmp_path):
    metrics = train(tmp_path, *RUN, *PROBES)
    assert metrics == read_metrics(tmp_path)
    assert 0 < metrics["signal_ratio"] < 10 and 0 < metrics["preact_shift"] < 10
    assert metrics["effective_lr_rise"] >= 0
    sgd = train(tmp_path / "sgd", *RUN, *PROBES, "optimizer=sgd")
    assert "signal_ratio" in sgd and "effective_lr_rise" not in sgd  # SGD has no per-weight rates
    assert "signal_ratio" not in train(tmp_path / "off", *RUN)  # probes=none


def test_a_resumed_run_sums_up_as_one_that_ran_through(tmp_path):
    train(tmp_path / "resumed", *RUN, *PROBES)  # one epoch, then one more from its checkpoint
    resumed = train(tmp_path / "resumed", *RUN, *PROBES, "trainer.max_epochs=2", "trainer.resume=true")
    straight = train(tmp_path / "straight", *RUN, *PROBES, "trainer.max_epochs=2")
    summaries = ("signal_ratio", "preact_shift", "unit_shift", "effective_lr_rise")
    assert [resumed[k] for k in summaries] == pytest.approx([straight[k] for k in summaries], rel=1e-9)


@pytest.mark.parametrize(
    ("preset", "probe", "summary"),
    [
        ("init", "layer_stats", {"signal_ratio", "saturation"}),
        ("covariate_shift", "layer_stats", {"unit_shift"}),
        ("adaptive_lr", "effective_lr", {"effective_lr_rise"}),
    ],
)
def test_the_presets_log_what_their_claims_read(preset, probe, summary):
    cfg = compose_config(f"experiment={preset}", hydra=True)
    assert cfg.probes[probe].every > 0
    read = {claim.metric.split("@")[0] for claim in cfg.hydra.callbacks.summary.claims}  # col@epoch: a column
    assert read <= summary | {"train_loss_running"}
