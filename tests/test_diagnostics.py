"""LayerStats: per-layer activation statistics and gradient norms, every N steps, train forwards only."""

import math

import pytest
import torch
import torch.nn.functional as F
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from netopt import init
from netopt.diagnostics import LayerStats
from netopt.models.mlp import MLP
from netopt.nn.norm import Normalization, WeightNormalization
from netopt.optim import SGD
from tests.helpers import train


class Writer:
    def __init__(self) -> None:
        self.logged: dict[int, dict[str, float]] = {}

    def scalars(self, values, step):
        self.logged[step] = dict(values)


def _names(model: nn.Module, kind: type[nn.Module]) -> list[str]:
    """``"<module path>.<class>"`` of every ``kind`` module in order, as LayerStats names them."""
    return [f"{name}.{type(m).__name__}" for name, m in model.named_modules() if isinstance(m, kind)]


def _train_step(model: nn.Module, stats: LayerStats, t: int) -> None:
    model.zero_grad()
    F.cross_entropy(model(torch.randn(32, 1, 8, 8)), torch.randint(0, 10, (32,))).backward()
    stats.step(t)


def test_logs_activation_statistics_and_gradient_norms_of_every_layer():
    torch.manual_seed(0)
    model = MLP((1, 8, 8), 10, Normalization(), dropout=0.0, depth=2, width=16, activation="tanh")
    writer = Writer()
    stats = LayerStats(model, writer, every=1)
    outputs = []
    first_tanh = next(m for m in model.modules() if isinstance(m, nn.Tanh))
    first_tanh.register_forward_hook(lambda m, i, o: outputs.append(o.detach()))
    _train_step(model, stats, 0)
    logged = writer.logged[0]
    linears, tanhs = _names(model, nn.Linear), _names(model, nn.Tanh)
    assert len(linears) == 3 and len(tanhs) == 2
    assert set(logged) == {
        f"{stat}/{layer}" for stat in ("act_mean", "act_std") for layer in linears + tanhs
    } | {f"grad_norm/{layer}" for layer in linears}
    assert logged[f"act_std/{tanhs[0]}"] == pytest.approx(outputs[0].std().item(), rel=1e-5)
    assert logged[f"act_mean/{tanhs[0]}"] == pytest.approx(outputs[0].mean().item(), rel=1e-5, abs=1e-7)
    first = model.layers[1]
    expected = math.hypot(first.weight.grad.norm().item(), first.bias.grad.norm().item())
    assert logged[f"grad_norm/{linears[0]}"] == pytest.approx(expected, rel=1e-5)


def test_logs_every_n_steps_and_ignores_evaluation():
    model = MLP((1, 8, 8), 10, Normalization(), dropout=0.0, depth=1, width=8)
    writer = Writer()
    stats = LayerStats(model, writer, every=3)
    for t in range(7):
        _train_step(model, stats, t)
        assert not stats.stats  # nothing kept between steps
    assert sorted(writer.logged) == [0, 3, 6]
    model.eval()
    model(torch.randn(4, 1, 8, 8))
    assert not stats.stats
    stats.close()
    model.train()
    model(torch.randn(4, 1, 8, 8))
    assert not stats.stats


def test_weight_norm_layers_report_the_gradient_of_g_and_v():
    model = MLP((1, 8, 8), 10, WeightNormalization(), dropout=0.0, depth=1, width=8)
    writer = Writer()
    _train_step(model, LayerStats(model, writer, every=1), 0)
    assert writer.logged[0]["grad_norm/layers.1.ParametrizedLinear"] > 0


@pytest.mark.parametrize(
    ("initializer", "vanishes"), [(init.Gaussian(std=0.01), True), (init.XavierNormal(), False)]
)
def test_shows_the_signal_vanishing_in_a_deep_tanh_net(initializer, vanishes):
    torch.manual_seed(0)
    model = MLP((1, 8, 8), 10, Normalization(), dropout=0.0, depth=8, width=64, activation="tanh")
    initializer(model)
    writer = Writer()
    _train_step(model, LayerStats(model, writer, every=1), 0)
    logged = writer.logged[0]
    tanhs, linears = _names(model, nn.Tanh), _names(model, nn.Linear)
    act_ratio = logged[f"act_std/{tanhs[-1]}"] / logged[f"act_std/{tanhs[0]}"]
    grad_ratio = logged[f"grad_norm/{linears[0]}"] / logged[f"grad_norm/{linears[-2]}"]  # first / last hidden
    assert (act_ratio < 1e-6 and grad_ratio < 1e-6) if vanishes else (act_ratio > 0.1 and grad_ratio > 0.1)


def test_follow_counts_optimizer_steps_from_the_resumed_step():
    model = MLP((1, 8, 8), 10, Normalization(), dropout=0.0, depth=1, width=8)
    optimizer = SGD(model.parameters(), lr=0.01)
    writer = Writer()
    LayerStats(model, writer, every=2).follow(optimizer, start=5)
    for _ in range(4):  # steps 5, 6, 7, 8
        model.zero_grad()
        model(torch.randn(4, 1, 8, 8)).sum().backward()
        optimizer.step()
    assert sorted(writer.logged) == [6, 8]
    assert "act_std/layers.1.Linear" in writer.logged[6]


def test_the_runner_logs_layer_statistics_to_tensorboard(tmp_path):
    train(tmp_path, "debug=fast", "trainer.diagnostics_every=2", "model.depth=1", "optimizer=adam")
    tags = EventAccumulator(str(tmp_path)).Reload().Tags()["scalars"]
    assert {"grad_norm/layers.1.Linear", "act_std/layers.2.ReLU", "act_mean/layers.3.Linear"} <= set(tags)
    assert {"optim/effective_lr_median/layers.1.Linear", "optim/effective_lr_p90/layers.3.Linear"} <= set(
        tags
    )
    steps = [
        event.step for event in EventAccumulator(str(tmp_path)).Reload().Scalars("grad_norm/layers.1.Linear")
    ]
    assert steps == [0, 2]
