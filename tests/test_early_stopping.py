"""Early stopping: the state machine of a watcher, its modes, restoring and resuming."""

import pytest
import torch
from torch import nn

from netopt.early_stopping import EarlyStopping
from netopt.errors import UserError
from netopt.probes.monitor import available_metrics

MODEL = nn.Linear(2, 2)


# A validation loss that falls until epoch 3, then rises: the signature of overfitting.
OVERFITTING = [1.0, 0.8, 0.6, 0.55, 0.6, 0.62, 0.7, 0.65, 0.9, 1.0]


def _step(stopper: EarlyStopping, value: float, epoch: int) -> bool:
    assert stopper.on_validation({"epoch": epoch, stopper.monitor: value}) == {}  # it adds no metric
    return stopper.stop()


def _run(stopper: EarlyStopping, values: list[float], start: int = 0) -> int | None:
    for epoch, value in enumerate(values, start):
        if _step(stopper, value, epoch):
            return epoch
    return None


def test_stops_after_patience_evaluations_without_improvement():
    stopper = EarlyStopping(MODEL, patience=3)
    assert _run(stopper, OVERFITTING) == 6
    assert (stopper.best, stopper.best_epoch, stopper.stopped_epoch) == (0.55, 3, 6)


def test_min_delta_requires_a_large_enough_improvement():
    stopper = EarlyStopping(MODEL, patience=2, min_delta=0.1)
    assert _run(stopper, [1.0, 0.95, 0.92, 0.5]) == 2
    assert stopper.best_epoch == 0


def test_patience_zero_never_stops_but_tracks_the_best():
    stopper = EarlyStopping(MODEL, patience=0)
    assert _run(stopper, OVERFITTING) is None
    assert (stopper.best_epoch, stopper.stopped_epoch, stopper.best_state) == (3, None, None)


@pytest.mark.parametrize("mode", [None, "max"])
def test_accuracy_is_maximized(mode):
    stopper = EarlyStopping(MODEL, patience=2, mode=mode, monitor="val_acc")
    assert _run(stopper, [0.5, 0.7, 0.69, 0.7, 0.71]) == 3
    assert stopper.best_epoch == 1


@pytest.mark.parametrize(("monitor", "mode"), [("val_acc", "min"), ("val_loss", "max"), ("val_ac", None)])
def test_a_mode_against_the_metric_or_an_unknown_metric_is_refused(monitor, mode):
    with pytest.raises(UserError, match="^(mode|monitor)="):  # by its name, or once the run's are known
        EarlyStopping(MODEL, monitor=monitor, mode=mode).watch(available_metrics([]))


def test_the_running_train_accuracy_is_maximized_and_its_old_name_points_to_it():
    stopper = EarlyStopping(MODEL, patience=2, monitor="train_acc_running")
    stopper.watch(available_metrics([]))
    assert stopper.mode == "max" and _run(stopper, [0.5, 0.7, 0.69, 0.7, 0.71]) == 3
    with pytest.raises(UserError, match=r"^monitor=train_acc: must be train_acc_running \(train_acc is the"):
        EarlyStopping(MODEL, monitor="train_acc").watch(available_metrics([]))


def test_restores_the_best_weights():
    model = nn.Linear(2, 1)
    stopper = EarlyStopping(model, patience=2)
    best = None
    for epoch, value in enumerate([1.0, 0.5, 0.7, 0.8]):
        with torch.no_grad():
            model.weight.fill_(float(epoch))
        if value == 0.5:
            best = {k: v.clone() for k, v in model.state_dict().items()}
        if _step(stopper, value, epoch):
            break
    assert stopper.on_fit_end() == {"stopped_epoch": 3, "restored_epoch": 1}
    assert all(torch.equal(v, best[k]) for k, v in model.state_dict().items())
    kept = EarlyStopping(model, patience=2, restore_best=False)
    _run(kept, [1.0, 0.5, 0.7, 0.8])
    assert kept.on_fit_end() == {"stopped_epoch": 3, "restored_epoch": None}


def test_state_dict_resumes_to_the_same_decision():
    full = EarlyStopping(MODEL, patience=3)
    stop_full = _run(full, OVERFITTING)
    first = EarlyStopping(MODEL, patience=3)
    _run(first, OVERFITTING[:5])
    resumed = EarlyStopping(MODEL, patience=3)
    resumed.load_state_dict(first.state_dict())
    stop = _run(resumed, OVERFITTING[5:], start=5)
    assert stop == stop_full
    mine, theirs = resumed.state_dict(), full.state_dict()
    assert {k: v for k, v in mine.items() if k != "best_state"} == {
        k: v for k, v in theirs.items() if k != "best_state"
    }
    assert all(torch.equal(v, theirs["best_state"][k]) for k, v in mine["best_state"].items())


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
    stopper = EarlyStopping(model, patience=20, restore_best=True)
    for epoch in range(2000):
        loss = (model(x_train).squeeze(1) - y_train).square().mean()
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= optimizer_lr * p.grad
            val_loss = (model(x_val).squeeze(1) - y_val).square().mean().item()
        if _step(stopper, val_loss, epoch):
            break
    assert stopper.stopped_epoch is not None and stopper.stopped_epoch == stopper.best_epoch + 20
    assert val_loss > stopper.best
    stopper.on_fit_end()
    with torch.no_grad():
        restored = (model(x_val).squeeze(1) - y_val).square().mean().item()
    assert restored == pytest.approx(stopper.best, rel=1e-6)
