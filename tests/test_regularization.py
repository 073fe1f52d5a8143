"""L1/L2 penalties (formula, which parameters), the regularization component and its presets."""

import pytest
import torch
from torch import nn

from netopt.components import make, preflight
from netopt.errors import UserError
from netopt.regularization import Regularization, penalized_parameters, penalties, soft_threshold_
from tests.helpers import compose_config, train


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 3, 3),
        nn.GroupNorm(1, 3),
        nn.Flatten(),
        nn.Linear(12, 4),
        nn.LayerNorm(4),
        nn.Linear(4, 2),
    ).double()


def test_penalties_skip_biases_and_norm_gains_by_default():
    model = _model()
    chosen = {id(p) for p in penalized_parameters(model)}
    weights = {id(model[i].weight) for i in (0, 3, 5)}
    assert chosen == weights
    assert len(penalized_parameters(model, penalize_all=True)) == len(list(model.parameters()))


def test_penalties_follow_the_formula_and_their_gradients():
    params = penalized_parameters(_model())
    terms = penalties(params, l1=1e-3, l2=5e-2)
    flat = torch.cat([p.flatten() for p in params])
    torch.testing.assert_close(terms["l1"], 1e-3 * flat.abs().sum(), rtol=1e-12, atol=0)
    torch.testing.assert_close(terms["l2"], 0.5 * 5e-2 * flat.square().sum(), rtol=1e-12, atol=0)
    grads = torch.autograd.grad(terms["l1"] + terms["l2"], params)
    for p, g in zip(params, grads, strict=True):
        torch.testing.assert_close(g, 1e-3 * p.sign() + 5e-2 * p, rtol=1e-12, atol=1e-15)


def test_only_switched_on_penalties_are_returned():
    params = penalized_parameters(_model())
    assert penalties(params) == {}
    assert set(penalties(params, l2=1.0)) == {"l2"}


def test_runner_stops_early_restores_the_best_weights_and_logs_penalties(tmp_path):
    """Through the real runner: min_delta so large that only the first evaluation counts as better."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from tests.helpers import read_metrics  # noqa: I001

    common = [
        "regularization.l1=1e-5", "regularization.l2=1e-4", "regularization.label_smoothing=0.1",
        "regularization.dropconnect=0.1", "augmentation=standard", "dataset.train_size=64",
    ]  # fmt: skip
    stopped = train(
        tmp_path / "stopped", *common, "trainer.max_epochs=20", "early_stopping=val_loss",
        "early_stopping.patience=2", "early_stopping.min_delta=100",
    )  # fmt: skip
    assert (stopped["epochs"], stopped["stopped_epoch"], stopped["restored_epoch"]) == (3, 3, 1)
    assert read_metrics(tmp_path / "stopped")["stopped_epoch"] == 3
    first_epoch = train(tmp_path / "one", *common, "trainer.max_epochs=1")
    assert first_epoch["stopped_epoch"] is None and first_epoch["restored_epoch"] is None
    assert stopped["test_loss"] == first_epoch["test_loss"]
    events = EventAccumulator(str(tmp_path / "stopped")).Reload()
    assert {"train/l1", "train/l2"} <= set(events.Tags()["scalars"])
    assert events.Tags()["images"] == ["augmentation/samples"]


@pytest.mark.parametrize(
    "name", ["none", "l1", "l2", "dropout", "dropconnect", "label_smoothing", "standard"]
)
def test_presets_compose_and_build(name):
    regularization = make(compose_config(f"regularization={name}"), "regularization")
    assert isinstance(regularization, Regularization)


@pytest.mark.parametrize(("name", "enabled"), [("none", False), ("val_loss", True), ("val_acc", True)])
def test_early_stopping_presets_compose_and_build(name, enabled):
    stopper = make(compose_config(f"early_stopping={name}"), "early_stopping", nn.Linear(2, 2))
    assert stopper.enabled == enabled and stopper.mode == ("max" if name == "val_acc" else "min")


def test_out_of_range_dropout_names_the_key():
    with pytest.raises(UserError, match=r"^regularization.dropout=1.0: must be in \[0, 1\)"):
        preflight(compose_config("regularization.dropout=1.0"))


def test_the_old_early_stopping_spelling_points_to_the_new_group(cli):
    status, err = cli("regularization=early_stopping")
    assert status == 2
    assert err.strip().splitlines() == [
        "netopt-train: error: regularization=early_stopping: early stopping is a group of its own: "
        "early_stopping=val_loss"
    ]


def test_the_regularization_experiment_sweeps_every_preset_with_and_without_augmentation():
    cfg = compose_config("experiment=regularization", hydra=True)
    params = cfg.hydra.sweeper.params
    assert params.regularization.split(",")[0] == "none" and params.augmentation == "none,standard"
    assert cfg.dataset.train_size == 5000


# --- proximal L1 -----------------------------------------------------------------------------------


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
    regularization = Regularization(l1=0.2, l1_proximal=True)
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


def test_without_l1_proximal_the_hook_does_nothing_and_l1_stays_a_subgradient_term():
    model, optimizer = _two_groups()
    regularization = Regularization(l1=0.2)
    regularization.attach(model)
    before = [p.detach().clone() for p in model.parameters()]
    regularization.step_hook(optimizer)()
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before, strict=True))
    (grad,) = torch.autograd.grad(regularization.penalties()["l1"], model[0].weight)
    assert torch.equal(grad, 0.2 * model[0].weight.sign())
    assert Regularization().measures() == {}  # no L1: no sparsity to record


def test_proximal_l1_zeroes_weights_on_digits_and_the_subgradient_none(tmp_path):
    """A short digits run: the fraction of exactly-zero weights per epoch (epochs.csv, TensorBoard) and
    at the end (metrics.json); the default, a subgradient term, leaves none at exactly 0."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from netopt.report.runs import read_epochs

    common = ["regularization.l1=1e-2", "trainer.max_epochs=3"]
    proximal = train(tmp_path / "proximal", *common, "regularization.l1_proximal=true")
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
    """l1_proximal=false: the hooks the runner wires in (after each step, after each epoch) change no bit
    of training; the reference run has the loop's own no-op defaults, i.e. the loop as it was."""
    overrides = ["regularization.l1=1e-3", "regularization.dropout=0.2", "trainer.max_epochs=2"]
    wired = train(tmp_path / "wired", *overrides)
    monkeypatch.setattr(Regularization, "step_hook", lambda self, optimizer: lambda: None)
    monkeypatch.setattr(Regularization, "measures", lambda self: {})
    reference = train(tmp_path / "reference", *overrides)
    timing = {"wall_time_s", "samples_per_s", "sparsity"}
    assert {k: v for k, v in wired.items() if k not in timing} == {
        k: v for k, v in reference.items() if k not in timing
    }
    assert wired["sparsity"] == 0.0 and "sparsity" not in reference
