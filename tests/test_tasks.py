"""A model's task (netopt/tasks.py): classification's loss and metrics as before, the autoencoder's
reconstruction with the mean squared error (its loss falls, its runs reproduce and resume exactly), the
one-line refusal of label smoothing without classes; the best epoch and early stopping on the task's
metric (an autoencoder's lowest val_loss), the probes on its loss, and the one-line refusal of a probe
or a watcher of what it has not (accuracy, classes)."""

import csv
import math

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from netopt.data import Data, Split
from netopt.evaluation import Evaluator
from netopt.landscape.parameters import flatten, trainable, unflatten
from netopt.models.autoencoder import AutoEncoder
from netopt.models.mlp import MLP
from netopt.nn.norm import Normalization
from netopt.probes.base import ProbeContext
from netopt.probes.monitor import available_metrics
from netopt.probes.sharpness import Sharpness
from netopt.state import History
from netopt.tasks import CLASSIFICATION, RECONSTRUCTION, task_of
from tests.helpers import compose_config, read_metrics, train

AUTOENCODER = ["model=autoencoder", "optimizer=adam", "trainer.max_epochs=4", "trainer.num_threads=1"]


def test_a_model_says_its_task():
    norm = Normalization()
    assert task_of(MLP((1, 8, 8), 10, norm)) is CLASSIFICATION
    assert task_of(AutoEncoder((1, 8, 8), 10, norm)) is RECONSTRUCTION
    assert task_of(torch.nn.Linear(2, 2)) is CLASSIFICATION  # a model that does not say


def test_autoencoder_reconstructs_the_input_shape_through_its_code():
    model = AutoEncoder((1, 28, 28), 10, Normalization(), widths=(64, 16), code=4)
    x = torch.randn(5, 1, 28, 28)
    assert model(x).shape == x.shape
    assert model.encoder(x).shape == (5, 4)
    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [
        (784, 64), (64, 16), (16, 4), (4, 16), (16, 64), (64, 784)
    ]  # fmt: skip


def test_reconstruction_loss_is_the_mean_squared_error_and_its_sum_the_per_sample_means():
    output, target = (
        torch.randn(6, 1, 4, 4, dtype=torch.float64),
        torch.randn(6, 1, 4, 4, dtype=torch.float64),
    )
    loss = RECONSTRUCTION.loss(output, target)
    torch.testing.assert_close(loss, F.mse_loss(output, target))
    per_sample = ((output - target) ** 2).mean(dim=(1, 2, 3))
    torch.testing.assert_close(RECONSTRUCTION.loss(output, target, reduction="sum"), per_sample.sum())
    x, y = torch.zeros(2, 3), torch.tensor([1, 2])
    assert RECONSTRUCTION.target(x, y) is x and CLASSIFICATION.target(x, y) is y


def test_evaluator_measures_the_task():
    torch.manual_seed(0)
    split = Split(torch.randn(10, 1, 4, 4), torch.randint(0, 3, (10,)))
    identity = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Unflatten(1, (1, 4, 4)))
    loss, acc, ece = Evaluator(identity, batch_size=4, task=RECONSTRUCTION).evaluate(split)
    assert loss == 0.0 and math.isnan(acc) and math.isnan(ece)
    shift = torch.nn.Sequential(identity, torch.nn.Identity())
    shift.register_forward_hook(lambda m, i, out: out + 0.5)
    assert Evaluator(shift, batch_size=4, task=RECONSTRUCTION).evaluate(split)[0] == pytest.approx(0.25)
    logits = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    loss, acc, _ = Evaluator(logits, batch_size=4).evaluate(split)
    with torch.no_grad():
        out = logits(split.x)
    assert loss == pytest.approx(F.cross_entropy(out, split.y).item(), rel=1e-6)
    assert acc == (out.argmax(1) == split.y).sum().item() / len(split)


def test_autoencoder_trains_its_loss_falls_and_resumes_exactly(tmp_path):
    from unittest import mock

    from netopt.run.checkpoint import Checkpoint
    from netopt.run.runner import Interrupted

    straight = train(tmp_path / "straight", *AUTOENCODER)
    epochs = (tmp_path / "straight" / "epochs.csv").read_text().splitlines()
    val_loss = [float(row.split(",")[4]) for row in epochs[1:]]
    assert straight["status"] == "completed"
    assert val_loss[-1] < 0.8 * val_loss[0], val_loss
    assert straight["test_loss"] < val_loss[0] and math.isnan(straight["test_acc"])
    assert math.isnan(straight["train_acc_running"]) and math.isnan(straight["val_ece"])
    save = Checkpoint.save

    def save_then_stop(checkpoint: Checkpoint) -> None:
        save(checkpoint)
        if torch.load(checkpoint.path, weights_only=True)["history"]["epoch"] == 2:
            raise KeyboardInterrupt

    with mock.patch.object(Checkpoint, "save", save_then_stop), pytest.raises(Interrupted):
        train(tmp_path / "resumed", *AUTOENCODER)
    resumed = train(tmp_path / "resumed", *AUTOENCODER, "trainer.resume=true")
    for key, value in straight.items():
        if key not in ("wall_time_s", "samples_per_s") and isinstance(value, float):
            assert value == resumed[key] or (math.isnan(value) and math.isnan(resumed[key])), key


def test_label_smoothing_without_classes_is_refused_in_one_line():
    from netopt.components import preflight
    from netopt.errors import UserError

    with pytest.raises(UserError, match=r"^regularization\.label_smoothing\.eps=0\.1: must be left out"):
        preflight(compose_config(*AUTOENCODER, "regularization=label_smoothing"))


#: The autoencoder at a large lr from epoch 3 on (x30): its validation loss is lowest at epoch 3.
LATE_LARGE_LR = [
    "model=autoencoder",
    "optimizer=adam",
    "optimizer.lr=0.01",
    "scheduler=step",
    "scheduler.milestones=[3]",
    "scheduler.gamma=30",
    "trainer.limit_batches=10",
    "trainer.num_threads=1",
]


def val_losses(run_dir) -> list[float]:
    with open(run_dir / "epochs.csv") as file:
        return [float(row["val_loss"]) for row in csv.DictReader(file)]


def test_the_best_epoch_follows_the_tasks_metric():
    """Classification: the highest val_acc (as before); reconstruction: the lowest val_loss."""
    for task, column, values, best in (
        (CLASSIFICATION, "val_acc", [0.5, 0.7, 0.6, 0.7], 2),
        (RECONSTRUCTION, "val_loss", [3.0, 2.0, 2.5, 1.9, 2.2], 4),
    ):
        history = History()
        for history.epoch, value in enumerate(values, 1):
            setattr(history, column, value)
            history.keep_best(task.monitor, task.mode)
        assert history.best_epoch == best and getattr(history, f"best_{column}") == values[best - 1]
    assert list(History(best_val_acc=0.7, best_epoch=2).best("val_acc")) == ["best_val_acc", "best_epoch"]
    assert math.isnan(history.best("val_loss")["best_val_acc"])
    final = available_metrics([], final=True, task=RECONSTRUCTION)
    assert final["best_val_loss"] == "min" and "best_val_loss" not in available_metrics([], final=True)
    from hydra_plugins.netopt_sweepers.callback import metric_directions  # what a sweep may rank by

    assert metric_directions(compose_config(*AUTOENCODER))["best_val_loss"] == "min"


def test_a_reconstruction_runs_best_epoch_is_its_lowest_val_loss_not_its_last(tmp_path):
    metrics = train(tmp_path, *LATE_LARGE_LR, "trainer.max_epochs=5")
    losses = val_losses(tmp_path)
    assert len(losses) == 5 and losses[3] > 10 * losses[2]  # the large lr from epoch 4 on
    assert metrics["best_epoch"] == 1 + losses.index(min(losses)) == 3
    assert metrics["best_val_loss"] == pytest.approx(min(losses)) and math.isnan(metrics["best_val_acc"])
    assert read_metrics(tmp_path)["best_val_loss"] == metrics["best_val_loss"]


def test_early_stopping_on_an_autoencoder_stops_on_val_loss_and_the_probes_measure_its_best(tmp_path):
    sharpness = ["probes=sharpness", "probes.sharpness.samples=64", "probes.sharpness.every=100"]
    stopping = ["early_stopping=val_loss", "early_stopping.patience=1", "trainer.max_epochs=8"]
    metrics = train(tmp_path, *LATE_LARGE_LR, *stopping, *sharpness)
    losses = val_losses(tmp_path)
    assert (metrics["stopped_epoch"], metrics["restored_epoch"], metrics["best_epoch"]) == (4, 3, 3)
    assert len(losses) == 4 and min(losses) == losses[2]
    assert metrics["test_loss"] < 2 * losses[2]  # the weights of epoch 3, not of the large lr
    assert math.isfinite(metrics["sharpness"]) and metrics["sharpness"] > 0


def test_probes_and_watchers_of_what_a_reconstruction_model_lacks_are_refused_in_one_line():
    from netopt.components import preflight
    from netopt.errors import UserError

    with pytest.raises(
        UserError,
        match=r"^early_stopping\.monitor=val_acc: must be a metric a reconstruction model has "
        r"\(val_loss, train_loss_running\)$",
    ):
        preflight(compose_config(*AUTOENCODER, "early_stopping=val_acc"))
    with pytest.raises(UserError, match=r"^scheduler\.monitor=val_ece: must be a metric a reconstruction"):
        preflight(compose_config(*AUTOENCODER, "scheduler=plateau", "scheduler.monitor=val_ece"))
    with pytest.raises(
        UserError, match=r"^probes=mc_dropout: measures a classification model only, not AutoEncoder"
    ):
        preflight(compose_config(*AUTOENCODER, "probes=mc_dropout"))
    preflight(compose_config(*AUTOENCODER, "early_stopping=val_loss", "probes=[sharpness,layer_stats]"))


def test_sharpness_of_an_autoencoder_is_that_of_its_mean_squared_error():
    """The probe's top eigenvalue and Hutchinson trace against the exact Hessian of the MSE of the
    reconstruction of the inputs (float64, a tiny autoencoder; the trace with the probe's own draws)."""
    torch.manual_seed(0)
    model = AutoEncoder((1, 2, 2), 3, Normalization(), widths=(3,), code=2, activation="tanh").double()
    x = torch.randn(12, 1, 2, 2, dtype=torch.float64)
    y = torch.randint(0, 3, (12,))
    context = ProbeContext(model, torch.optim.SGD(model.parameters(), lr=0.1), seed=3)
    context.data = Data(Split(x, y), Split(x[:0], y[:0]), Split(x, y), 3)
    probe = Sharpness(context, samples=12, trace_probes=10)
    values = probe.measure()
    params = trainable(model)
    names = [name for name, p in model.named_parameters() if p.requires_grad]

    def mse_of(theta: torch.Tensor) -> torch.Tensor:
        weights = dict(zip(names, unflatten(theta, params), strict=True))
        return F.mse_loss(functional_call(model, weights, (x,)), x)

    hessian = torch.autograd.functional.hessian(mse_of, flatten(params).detach())
    assert values["sharpness"] == pytest.approx(torch.linalg.eigvalsh(hessian)[-1].item(), rel=1e-6)
    z = (torch.randint(0, 2, (10, len(hessian)), generator=torch.Generator().manual_seed(3)) * 2 - 1).double()
    assert values["hessian_trace"] == pytest.approx(((z @ hessian) * z).sum(1).mean().item(), rel=1e-9)
