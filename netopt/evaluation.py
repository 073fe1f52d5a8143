"""Evaluating a model as it is tested: a split's mean loss, accuracy and expected calibration error in
eval mode, unaugmented, with the weights to evaluate (an average, :mod:`netopt.averaging`) put into the
model first; the loss and the metrics are those of the model's task (:mod:`netopt.tasks`)."""

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from netopt.averaging import EvaluationWeights, recompute_batch_norm
from netopt.data import Split, batches
from netopt.distributed import World
from netopt.precision import AutocastFactory
from netopt.tasks import CLASSIFICATION, Task


@dataclass
class Evaluator:
    """Evaluates ``model`` in batches of ``batch_size`` (at most ``limit_batches`` of them), under
    ``autocast``; with several processes (``world``) each evaluates its shard of every batch and the
    sums are all-reduced. ``weights``: the provider of the weights to evaluate, if any; ``task``: what
    the model's output is scored as."""

    model: nn.Module
    batch_size: int
    limit_batches: int | None = None
    world: World = field(default_factory=World)
    autocast: AutocastFactory = contextlib.nullcontext
    memory_format: torch.memory_format = torch.contiguous_format
    weights: EvaluationWeights | None = None
    task: Task = CLASSIFICATION

    def inputs(self, split: Split) -> Iterator[tuple[Tensor, Tensor, int]]:
        """``split`` in batches: this process's shard of each (x, y) and the whole batch's size."""
        for x, y in batches(split.x, split.y, self.batch_size, limit=self.limit_batches):
            x, y, n = self.world.shard(x, y)
            yield x.contiguous(memory_format=self.memory_format), y, n

    def train_weights(self) -> None:
        """Put the training weights back into the model (nothing without :attr:`weights`)."""
        if self.weights is not None:
            self.weights.train()

    def evaluation_weights(self, train: Split) -> None:
        """Put the weights to evaluate into the model, their batch-norm statistics recomputed on the
        ``train`` split (nothing without :attr:`weights`)."""
        if self.weights is not None:
            self.weights.eval()
            with self.autocast():
                recompute_batch_norm(self.model, (x for x, _, _ in self.inputs(train)))

    @torch.no_grad()
    def evaluate(self, split: Split) -> tuple[float, float, float]:
        """Mean loss, accuracy and expected calibration error (:mod:`netopt.calibration`) over ``split``
        in eval mode, as the task measures them (NaN for an empty split, or what the task has not)."""
        self.model.eval()
        loss_sum = torch.zeros((), device=split.x.device, dtype=torch.float64)
        sums: Tensor | int = 0  # the task's sums (a classification's calibration bins)
        for x, y, _ in self.inputs(split):
            target = self.task.target(x, y)
            with self.autocast():
                output = self.model(x)
                loss_sum += self.task.loss(output, target, reduction="sum")
            sums = sums + self.task.sums(output, target)
        if isinstance(sums, int):
            return math.nan, math.nan, math.nan
        return self.task.metrics(self.world.sum(loss_sum).item(), self.world.sum(sums))
