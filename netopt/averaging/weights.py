"""The protocol of whatever provides a model's weights for evaluation apart from those it trains, and
the batch-norm statistics those weights need."""

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn


@runtime_checkable
class EvaluationWeights(Protocol):
    """Switches a model between the weights it trains and the weights to evaluate (and save): an
    averager's average (:class:`netopt.averaging.WeightAverage`), or an optimizer's own, as
    Schedule-Free's x (:class:`netopt.optim.schedule_free.ScheduleFree`). Each switch does nothing
    when the model holds those weights already; which it holds is part of the provider's state, so a
    checkpoint taken while evaluating resumes exactly."""

    def train(self) -> None:
        """Put the training weights into the model."""

    def eval(self) -> None:
        """Put the evaluation weights into the model."""


def evaluation_weights(optimizer: torch.optim.Optimizer) -> EvaluationWeights | None:
    """The optimizer itself, or one it steps through (SAM's base, the optimizer behind the gradient
    transforms), when it provides evaluation weights; else None."""
    inner: Any = optimizer
    while not isinstance(inner, EvaluationWeights):
        inner = getattr(inner, "base", None)
        if inner is None:
            return None
    return inner


def _batch_norms(model: nn.Module) -> list[Any]:
    """The modules that keep running statistics of their inputs (netopt's and torch's batch norm)."""
    return [
        m for m in model.modules() if getattr(m, "running_mean", None) is not None and hasattr(m, "momentum")
    ]


@torch.no_grad()
def recompute_batch_norm(model: nn.Module, inputs: Iterable[Tensor]) -> None:
    """The running mean and variance of every batch-norm layer of ``model`` recomputed from scratch for
    its present weights: reset, then one pass over ``inputs`` (training batches) with the cumulative
    average of the batch statistics (momentum None), as ``torch.optim.swa_utils.update_bn`` does.

    Only the batch-norm layers run in train mode: dropout stays off, so the statistics are those of
    the network as it is evaluated, and the pass draws no random numbers (the run's random streams are
    left as they were). Does nothing for a model without batch norm.
    """
    layers = _batch_norms(model)
    if not layers:
        return
    modes = {m: m.training for m in model.modules()}
    momenta = [m.momentum for m in layers]
    model.eval()
    for layer in layers:
        layer.running_mean.zero_()
        layer.running_var.fill_(1.0)
        layer.num_batches_tracked.zero_()
        layer.momentum = None
        layer.train()
    for x in inputs:
        model(x)
    for layer, momentum in zip(layers, momenta, strict=True):
        layer.momentum = momentum
    for module, training in modes.items():
        module.training = training
