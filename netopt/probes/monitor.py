"""Metrics by name, with their direction: what a watcher (early stopping, the plateau schedule) and a
sweep may monitor.

The loop's own metrics improve as their names say: an accuracy (``*acc*``) up, a loss (``*loss*``)
down. A probe declares the direction of each metric it produces (:meth:`netopt.probes.Probe.metrics`);
one with none (a description, such as a norm) is monitored only with an explicit ``mode``. The train
loss and accuracy of every validation are the running ones (``train_acc_running``); ``train_acc`` is
measured once, at the end, so a watcher asked for it is pointed to ``train_acc_running``.
"""

from collections.abc import Iterable, Mapping

from netopt.checks import require, require_choice
from netopt.metrics import Direction, natural_direction
from netopt.probes.base import Probe
from netopt.tasks import CLASSIFICATION, Task

#: The metrics the loop gives every validation, besides ``epoch`` and ``step``: the train ones running
#: over the epoch's batches as they were trained.
LOOP_METRICS = ("val_loss", "val_acc", "val_ece", "train_loss_running", "train_acc_running")
#: The numbers the loop writes into every run's metrics.json (:meth:`netopt.loop.Trainer.fit`):
#: ``train_loss`` and ``train_acc`` from an evaluation pass over the training split at the end.
LOOP_FINAL_METRICS = (
    *LOOP_METRICS,
    "train_loss",
    "train_acc",
    "best_val_acc",
    "best_epoch",
    "test_loss",
    "test_acc",
    "test_ece",
    "generalization_gap",
    "epochs",
    "stopped_epoch",
    "restored_epoch",
    "steps",
    "wall_time_s",
    "samples_per_s",
)


def available_metrics(
    probes: Iterable[Probe], final: bool = False, task: Task = CLASSIFICATION
) -> dict[str, Direction]:
    """Every metric a run's validations produce (its loop's and its ``probes``'), by name, with its
    direction; with ``final``, every number of its metrics.json (the loop's, with ``best_<monitor>`` of
    the model's ``task``, and the probes')."""
    names = LOOP_FINAL_METRICS if final else LOOP_METRICS
    available: dict[str, Direction] = {name: natural_direction(name) for name in names}
    if final:
        available[f"best_{task.monitor}"] = task.mode
    for probe in probes:
        available |= probe.metrics() | (probe.final_metrics() if final else {})
    return available


def monitor_mode(
    monitor: str, mode: Direction, available: Mapping[str, Direction] | None = None
) -> Direction:
    """How ``monitor`` improves, the way the metric declares it (by its name until ``available``, the
    metrics the run produces, is known). ``mode`` may say so again; one that contradicts the metric is
    refused (it would stop when the metric improves), as is an unknown metric, and a metric without a
    direction needs ``mode``."""
    if available is None:
        declared = natural_direction(monitor)
    else:
        running = f"{monitor}_running"  # train_acc: once the running accuracy, now the final evaluation's
        moved = f"{running} ({monitor} is the evaluation at the end, {running} is over each epoch's batches)"
        require(monitor in available or running not in available, "monitor", moved, monitor)
        require_choice("monitor", monitor, available)
        declared = available[monitor]
    if declared is None:
        require(mode in (None, "min", "max"), "mode", "min, max or null", mode)
        require(mode is not None or available is None, "mode", f"min or max for {monitor}", mode)
        return mode
    require(mode in (None, declared), "mode", f"{declared} (or null) for {monitor}", mode)
    return declared


class Watcher(Probe):
    """A probe that monitors one metric, ``monitor``, by name: early stopping, the plateau schedule.
    ``mode`` follows from the metric (:func:`monitor_mode`), resolved again once the run's metrics are
    known (:meth:`watch`)."""

    def __init__(self, monitor: str, mode: Direction = None) -> None:
        self.monitor, self.requested_mode = monitor, mode
        self.mode = monitor_mode(monitor, mode)

    def monitored(self) -> tuple[str, ...]:
        return (self.monitor,)

    def watch(self, available: Mapping[str, Direction]) -> None:
        self.mode = monitor_mode(self.monitor, self.requested_mode, available)
