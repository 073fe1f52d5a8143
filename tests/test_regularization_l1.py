"""The L1 regularizer's proximal step (ISTA): soft-thresholding exactly, per param group, the sparsity
it leaves, and the default subgradient term changing no bit of training."""

import pytest
import torch
from torch import nn

from netopt.regularization import Regularizers
from netopt.regularization.l1 import L1, soft_threshold_
from tests.helpers import train


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_soft_threshold_is_the_formula_exactly(dtype):
    generator = torch.Generator().manual_seed(0)
    threshold = 0.3
    params = [
        torch.randn(50, 40, generator=generator, dtype=dtype),
        torch.randn(9, generator=generator, dtype=dtype),
    ]
    params[1][:4] = torch.tensor([threshold, -threshold, 0.0, 2 * threshold], dtype=dtype)  # edges, zero
    expected = [p.sign() * (p.abs() - threshold).clamp_min(0) for p in params]
    soft_threshold_(params, threshold)
    for p, e in zip(params, expected, strict=True):
        assert torch.equal(p, e)
    assert params[1][:3].tolist() == [0.0, 0.0, 0.0] and params[1][3].item() == pytest.approx(threshold)
    assert (params[0] == 0).any() and (params[0] != 0).any()


def _two_groups() -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 5), nn.Linear(5, 3))
    groups = [{"params": model[0].parameters(), "lr": 0.1}, {"params": model[1].parameters(), "lr": 0.5}]
    return model, torch.optim.SGD(groups, lr=0.1)  # a torch optimizer only to hold the groups here


def test_the_proximal_step_thresholds_each_weight_by_its_groups_lr_and_leaves_biases():
    model, optimizer = _two_groups()
    regularization = Regularizers(l1=L1(0.2, proximal=True))
    regularization.attach(model)
    assert regularization.penalties() == {}  # no L1 term in the loss
    before = [p.detach().clone() for p in model.parameters()]
    regularization.step_hook(optimizer)()
    lrs = {0: 0.1, 1: 0.5}
    for layer, lr in lrs.items():
        w = before[2 * layer]
        expected = w.sign() * (w.abs() - lr * 0.2).clamp_min(0)
        assert torch.equal(model[layer].weight, expected)
        assert torch.equal(model[layer].bias, before[2 * layer + 1])
    assert regularization.measures()["sparsity"] == pytest.approx(
        sum(int((model[i].weight == 0).sum()) for i in lrs) / (30 + 15)
    )


def test_without_proximal_the_hook_does_nothing_and_l1_stays_a_subgradient_term():
    model, optimizer = _two_groups()
    regularization = Regularizers(l1=L1(0.2))
    regularization.attach(model)
    before = [p.detach().clone() for p in model.parameters()]
    regularization.step_hook(optimizer)()
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before, strict=True))
    (grad,) = torch.autograd.grad(regularization.penalties()["l1"], model[0].weight)
    assert torch.equal(grad, 0.2 * model[0].weight.sign())
    assert Regularizers().measures() == {}  # no L1: no sparsity to record
    assert Regularizers(l1=L1(0.0, proximal=True)).measures() == {}  # switched off


def test_proximal_l1_zeroes_weights_on_digits_and_the_subgradient_none(tmp_path):
    """A short digits run: the fraction of exactly-zero weights per epoch (epochs.csv, TensorBoard) and
    at the end (metrics.json); the default, a subgradient term, leaves none at exactly 0."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from netopt.report.runs import read_epochs

    common = ["regularization=l1", "regularization.l1.strength=1e-2", "trainer.max_epochs=3"]
    proximal = train(tmp_path / "proximal", *common, "regularization.l1.proximal=true")
    subgradient = train(tmp_path / "subgradient", *common)
    assert proximal["sparsity"] > 0.1 and proximal["test_acc"] > 0.5
    assert subgradient["sparsity"] == 0.0
    epochs = read_epochs(tmp_path / "proximal" / "epochs.csv")
    assert len(epochs["sparsity"]) == 3 and epochs["sparsity"][-1] == proximal["sparsity"]
    tags = {
        name: set(EventAccumulator(str(tmp_path / name)).Reload().Tags()["scalars"])
        for name in ("proximal", "subgradient")
    }
    assert {"train/sparsity"} <= tags["proximal"] and "train/l1" not in tags["proximal"]
    assert {"train/sparsity", "train/l1"} <= tags["subgradient"]


def test_the_default_subgradient_run_trains_exactly_as_the_loop_without_hooks(tmp_path, monkeypatch):
    """proximal=false: the hooks the runner wires in (after each step, after each epoch) change no bit
    of training; the reference run has the loop's own no-op defaults, i.e. the loop as it was."""
    overrides = [
        "regularization=[l1,dropout]", "regularization.l1.strength=1e-3", "regularization.dropout.p=0.2",
        "trainer.max_epochs=2",
    ]  # fmt: skip
    wired = train(tmp_path / "wired", *overrides)
    monkeypatch.setattr(Regularizers, "step_hook", lambda self, optimizer: lambda: None)
    monkeypatch.setattr(Regularizers, "measures", lambda self: {})
    reference = train(tmp_path / "reference", *overrides)
    timing = {"wall_time_s", "samples_per_s", "sparsity"}
    assert {k: v for k, v in wired.items() if k not in timing} == {
        k: v for k, v in reference.items() if k not in timing
    }
    assert wired["sparsity"] == 0.0 and "sparsity" not in reference
