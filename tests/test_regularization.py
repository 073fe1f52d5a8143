"""L1/L2 penalties (formula, which parameters) and the early-stopping state machine."""

import pytest
import torch
from torch import nn

import netopt.schema
from netopt.regularization import EarlyStopping, penalized_parameters, penalties


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


# A validation loss that falls until epoch 3, then rises: the signature of overfitting.
OVERFITTING = [1.0, 0.8, 0.6, 0.55, 0.6, 0.62, 0.7, 0.65, 0.9, 1.0]


def _run(stopper: EarlyStopping, values: list[float]) -> int | None:
    for epoch, value in enumerate(values):
        if stopper.step(value, epoch):
            return epoch
    return None


def test_stops_after_patience_evaluations_without_improvement():
    stopper = EarlyStopping(patience=3)
    assert _run(stopper, OVERFITTING) == 6
    assert (stopper.best, stopper.best_epoch, stopper.stopped_epoch) == (0.55, 3, 6)


def test_min_delta_requires_a_large_enough_improvement():
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    assert _run(stopper, [1.0, 0.95, 0.92, 0.5]) == 2
    assert stopper.best_epoch == 0


@pytest.mark.parametrize("patience", [0, None])
def test_patience_zero_or_none_never_stops_but_tracks_the_best(patience):
    stopper = EarlyStopping(patience=patience)
    assert _run(stopper, OVERFITTING) is None
    assert (stopper.best_epoch, stopper.stopped_epoch, stopper.best_state) == (3, None, None)


def test_max_mode_for_accuracy():
    stopper = EarlyStopping(patience=2, mode="max", monitor="val_acc")
    assert _run(stopper, [0.5, 0.7, 0.69, 0.7, 0.71]) == 3
    assert stopper.best_epoch == 1


def test_restores_the_best_weights():
    model = nn.Linear(2, 1)
    stopper = EarlyStopping(patience=2)
    best = None
    for epoch, value in enumerate([1.0, 0.5, 0.7, 0.8]):
        with torch.no_grad():
            model.weight.fill_(float(epoch))
        if value == 0.5:
            best = {k: v.clone() for k, v in model.state_dict().items()}
        if stopper.step(value, epoch, model):
            break
    assert stopper.restore(model)
    assert all(torch.equal(v, best[k]) for k, v in model.state_dict().items())
    assert not EarlyStopping(patience=2, restore_best=False).restore(model)


def test_state_dict_resumes_to_the_same_decision():
    full = EarlyStopping(patience=3)
    stop_full = _run(full, OVERFITTING)
    first = EarlyStopping(patience=3)
    _run(first, OVERFITTING[:5])
    resumed = EarlyStopping(patience=3)
    resumed.load_state_dict(first.state_dict())
    stop = next(epoch for epoch in range(5, 10) if resumed.step(OVERFITTING[epoch], epoch))
    assert stop == stop_full
    assert resumed.state_dict() == full.state_dict()


def test_early_stopping_on_a_tiny_overfitting_problem():
    """Few noisy samples, a wide net and full-batch steps: the validation loss turns up; stop and restore."""
    torch.manual_seed(0)
    x_train, x_val = torch.randn(16, 10), torch.randn(256, 10)
    w = torch.randn(10, 1)

    def labels(x):
        return (x @ w).squeeze(1) + 1.5 * torch.randn(len(x))

    y_train, y_val = labels(x_train), labels(x_val)
    model = nn.Sequential(nn.Linear(10, 256), nn.Tanh(), nn.Linear(256, 1))
    optimizer_lr = 0.05
    stopper = EarlyStopping(patience=20, restore_best=True)
    for epoch in range(2000):
        loss = (model(x_train).squeeze(1) - y_train).square().mean()
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= optimizer_lr * p.grad
            val_loss = (model(x_val).squeeze(1) - y_val).square().mean().item()
        if stopper.step(val_loss, epoch, model):
            break
    assert stopper.stopped_epoch is not None and stopper.stopped_epoch == stopper.best_epoch + 20
    assert val_loss > stopper.best
    stopper.restore(model)
    with torch.no_grad():
        restored = (model(x_val).squeeze(1) - y_val).square().mean().item()
    assert restored == pytest.approx(stopper.best, rel=1e-6)


def test_runner_stops_early_restores_the_best_weights_and_logs_penalties(tmp_path):
    """Through the real runner: min_delta so large that only the first evaluation counts as better."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from tests.conftest import read_metrics, train

    common = [
        "regularization.l1=1e-5", "regularization.l2=1e-4", "regularization.label_smoothing=0.1",
        "regularization.dropconnect=0.1", "augmentation=standard", "dataset.train_size=64",
    ]  # fmt: skip
    stopped = train(
        tmp_path / "stopped", *common, "trainer.max_epochs=20", "regularization=early_stopping",
        "regularization.early_stopping.patience=2", "regularization.early_stopping.min_delta=100",
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
    "name", ["none", "l1", "l2", "dropout", "dropconnect", "label_smoothing", "early_stopping", "standard"]
)
def test_presets_compose_validate_and_build_the_early_stopping(name):
    from tests.conftest import compose_config

    cfg = compose_config(f"regularization={name}")
    netopt.schema.validate(cfg)
    stopper = EarlyStopping(**cfg.regularization.early_stopping)
    assert stopper.enabled == (name in ("early_stopping", "standard"))


def test_out_of_range_dropout_names_the_key():
    from tests.conftest import compose_config

    with pytest.raises(netopt.schema.UserError, match="regularization.dropout"):
        netopt.schema.validate(compose_config("regularization.dropout=1.0"))


def test_compare_regularization_sweeps_every_preset_with_and_without_augmentation():
    from hydra import compose, initialize_config_module

    with initialize_config_module("netopt.conf", version_base="1.3"):
        cfg = compose("train", overrides=["experiment=compare_regularization"], return_hydra_config=True)
    params = cfg.hydra.sweeper.params
    assert params.regularization.split(",")[0] == "none" and params.augmentation == "none,standard"
    assert cfg.dataset.train_size == 5000
