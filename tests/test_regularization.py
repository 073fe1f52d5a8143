"""L1/L2 penalties (formula, which parameters), the regularization component and its presets."""

import pytest
import torch
from torch import nn

from netopt.errors import UserError
from netopt.regularization import Regularization, penalized_parameters, penalties
from netopt.train import check, make
from tests.helpers import compose_config


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

    from tests.helpers import read_metrics, train  # noqa: I001

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
        check(compose_config("regularization.dropout=1.0"))


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
