"""Evaluating a model as it is tested: a split's mean loss, accuracy and expected calibration error in
eval mode, unaugmented, with the weights to evaluate (an average, :mod:`netopt.averaging`) put into the
model first."""

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from netopt.averaging import EvaluationWeights, recompute_batch_norm
from netopt.calibration import BINS, calibration_bins, expected_calibration_error
from netopt.data import Split, batches
from netopt.distributed import World
from netopt.precision import AutocastFactory


@dataclass
class Evaluator:
    """Evaluates ``model`` in batches of ``batch_size`` (at most ``limit_batches`` of them), under
    ``autocast``; with several processes (``world``) each evaluates its shard of every batch and the
    sums are all-reduced. ``weights``: the provider of the weights to evaluate, if any."""

    model: nn.Module
    batch_size: int
    limit_batches: int | None = None
    world: World = field(default_factory=World)
    autocast: AutocastFactory = contextlib.nullcontext
    memory_format: torch.memory_format = torch.contiguous_format
    weights: EvaluationWeights | None = None

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
        in eval mode (NaN for an empty split)."""
        self.model.eval()
        loss_sum = torch.zeros((), device=split.x.device, dtype=torch.float64)
        bins = torch.zeros(3, BINS, device=split.x.device, dtype=torch.float64)  # calibration_bins' sums
        for x, y, _ in self.inputs(split):
            with self.autocast():
                logits = self.model(x)
                loss_sum += F.cross_entropy(logits, y, reduction="sum")
            bins += calibration_bins(logits, y)
        loss_sum, bins = self.world.sum(loss_sum), self.world.sum(bins)
        if not (count := bins[0].sum().item()):
            return math.nan, math.nan, math.nan
        return loss_sum.item() / count, bins[1].sum().item() / count, expected_calibration_error(bins)
