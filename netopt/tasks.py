"""What a model's output is trained and evaluated as: its task, which gives the loss, the target the
loss compares the output with, and the metrics of an evaluation.

- :data:`CLASSIFICATION`: the output is the logits of the classes, the target the class index; the loss
  is the cross-entropy -log softmax(z)_y, the metrics the accuracy and the expected calibration error
  (:mod:`netopt.calibration`) beside the mean loss (Qiu Xipeng, Neural Networks and Deep Learning,
  ch. 3).
- :data:`RECONSTRUCTION`: the output is the input itself, as an autoencoder reconstructs it (Hinton and
  Salakhutdinov, "Reducing the dimensionality of data with neural networks", 2006); the target is the
  input batch x as the model sees it (preprocessed, augmented) and the loss the mean squared error
  1/(N D) * sum_i ||f(x_i) - x_i||^2 over the batch's N inputs of D values each. Labels are not used;
  accuracy and calibration do not exist (NaN), so ``val_loss`` (lower is better) is the metric to watch.

A task also says which validation metric picks a run's best epoch (:attr:`Task.monitor`, improving as
:attr:`Task.mode` says): the accuracy for classification, the loss for reconstruction; and the metrics
it leaves NaN (:attr:`Task.absent`), which no watcher may monitor.

A model says its task in its class attribute ``task`` (:class:`netopt.models.Model`: classification);
:func:`task_of` reads it, classification for a model that does not say.
"""

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from netopt.calibration import calibration_bins, expected_calibration_error
from netopt.metrics import Direction
from netopt.nn.loss import cross_entropy
from netopt.state import Hits


class Task:
    """The loss, its target and the metrics of a kind of output (the base: what every task defines)."""

    name = "task"
    #: The data loss of an output against the target, ``(output, target, reduction="mean")``: averaged
    #: over the batch (``mean``) or summed over its samples (``sum``).
    loss: Callable[..., Tensor]
    #: The validation metric whose best value picks the best epoch (``best_epoch``, ``best_<monitor>``).
    monitor: str
    #: How :attr:`monitor` improves: ``"max"`` or ``"min"``.
    mode: Direction
    #: The metrics of every validation that the task has none of (always NaN).
    absent: tuple[str, ...] = ()

    def target(self, x: Tensor, y: Tensor) -> Tensor:
        """What the loss compares the output of the inputs ``x`` (labels ``y``) with."""
        raise NotImplementedError

    def hits(self) -> Hits:
        """The counter of an epoch's correct predictions (:class:`netopt.state.Hits`)."""
        raise NotImplementedError

    def sums(self, output: Tensor, target: Tensor) -> Tensor:
        """A batch's sums for :meth:`metrics` (float64), added over the batches of a split."""
        raise NotImplementedError

    def metrics(self, loss_sum: float, sums: Tensor) -> tuple[float, float, float]:
        """Mean loss, accuracy and expected calibration error from the summed loss and :meth:`sums`
        (NaN where the task has none, all NaN for an empty split)."""
        raise NotImplementedError


class Classification(Task):
    """Logits against class indices: cross-entropy, accuracy, expected calibration error."""

    name = "classification"
    loss = staticmethod(cross_entropy)
    monitor = "val_acc"
    mode: Direction = "max"

    def target(self, x: Tensor, y: Tensor) -> Tensor:
        return y

    def hits(self) -> Hits:
        return Hits()

    def sums(self, output: Tensor, target: Tensor) -> Tensor:
        return calibration_bins(output, target)

    def metrics(self, loss_sum: float, sums: Tensor) -> tuple[float, float, float]:
        if not (count := sums[0].sum().item()):
            return math.nan, math.nan, math.nan
        return loss_sum / count, sums[1].sum().item() / count, expected_calibration_error(sums)


class NoHits(Hits):
    """The count of correct predictions of a task without classes: none kept, NaN."""

    def add(self, logits: Tensor, target: Tensor) -> None:
        pass

    def total(self) -> Tensor:
        return torch.tensor(math.nan)


def squared_error(output: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """1/(N D) * sum_i ||output_i - target_i||^2 over N samples of D values (``mean``), or the sum over
    the samples of each one's mean 1/D * ||output_i - target_i||^2 (``sum``)."""
    if reduction == "sum":
        return F.mse_loss(output, target, reduction="sum") / target[0].numel()
    return F.mse_loss(output, target)


class Reconstruction(Task):
    """Outputs against the inputs: the mean squared error per value; no accuracy."""

    name = "reconstruction"
    loss = staticmethod(squared_error)
    monitor = "val_loss"
    mode: Direction = "min"
    absent = ("val_acc", "val_ece", "train_acc_running")

    def target(self, x: Tensor, y: Tensor) -> Tensor:
        return x

    def hits(self) -> Hits:
        return NoHits()

    def sums(self, output: Tensor, target: Tensor) -> Tensor:
        return torch.tensor([len(target)], dtype=torch.float64, device=target.device)

    def metrics(self, loss_sum: float, sums: Tensor) -> tuple[float, float, float]:
        if not (count := sums[0].item()):
            return math.nan, math.nan, math.nan
        return loss_sum / count, math.nan, math.nan


CLASSIFICATION = Classification()
RECONSTRUCTION = Reconstruction()


def task_of(model: Any) -> Task:
    """The task a model (or its class) says in its attribute ``task``; classification if none."""
    task: Task = getattr(model, "task", CLASSIFICATION)
    return task
