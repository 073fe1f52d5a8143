"""Monte-Carlo dropout: dropout as an implicit ensemble, averaged at test time (``probes=mc_dropout``).

Each dropout mask picks one of the exponentially many subnetworks that share the weights (Qiu Xipeng,
Neural Networks and Deep Learning, ch. 7; Srivastava et al. 2014, Dropout: A Simple Way to Prevent
Neural Networks from Overfitting). The usual test pass (weight scaling: with inverted dropout, the
identity) approximates their ensemble in one pass; Monte-Carlo dropout averages it explicitly over
k sampled masks (Gal & Ghahramani 2016, Dropout as a Bayesian Approximation):

    p(y | x) = 1/k sum_{s=1..k} softmax(f(x; m_s)),    m_s the dropout masks of pass s,

with every dropout layer (:data:`netopt.nn.dropout.STOCHASTIC_LAYERS`: dropout, variational dropout,
DropConnect) in training mode and everything else, batch norm included, in evaluation mode. The loss
is the mean of -log p(y | x), computed from the k log-softmaxes by a log-sum-exp; the prediction is
argmax p(y | x). The masks are drawn from a generator seeded with the run's seed, on a fork of the
global random state: the same model and seed give the same numbers, and training's random stream is
left as it was. With k = 0 the same code gives the weight-scaling pass, so that a run can record the
difference of the two. It needs classes: on a reconstruction model (an autoencoder, :mod:`netopt.tasks`)
it is refused before training.
"""

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from netopt.checks import require_count
from netopt.data import Split, batches
from netopt.nn.dropout import STOCHASTIC_LAYERS
from netopt.probes.base import Direction, Probe, ProbeContext, require_classification


@contextmanager
def evaluation(model: nn.Module, dropout: bool = False) -> Iterator[None]:
    """``model`` in evaluation mode, except its dropout layers when ``dropout``; every module's mode
    restored afterwards."""
    modes = {module: module.training for module in model.modules()}
    model.eval()
    for module in model.modules():
        if dropout and isinstance(module, STOCHASTIC_LAYERS):
            module.train()
    try:
        yield
    finally:
        for module, training in modes.items():
            module.training = training


@torch.no_grad()
def mc_dropout_predict(
    model: nn.Module,
    split: Split,
    samples: int,
    batch_size: int,
    seed: int,
    limit_batches: int | None = None,
) -> tuple[float, Tensor, Tensor]:
    """Mean loss of the Monte-Carlo dropout average of ``samples`` passes over ``split`` (NaN for an
    empty split), its prediction argmax p(y | x) of every example and their labels; ``samples=0``: of
    the weight-scaling pass. A model without dropout layers gives the weight-scaling numbers for any
    ``samples``: its passes are all the same, so one is taken."""
    stochastic = any(isinstance(module, STOCHASTIC_LAYERS) for module in model.modules())
    passes = samples if samples and stochastic else 1
    device = split.x.device
    loss_sum = torch.zeros((), device=device)
    predicted, labels = [], []
    forked = torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])
    with forked, evaluation(model, dropout=samples > 0):
        torch.manual_seed(seed)
        for x, y in batches(split.x, split.y, batch_size, limit=limit_batches):
            log_probs = torch.stack([F.log_softmax(model(x), dim=1) for _ in range(passes)])
            mean_log_prob = torch.logsumexp(log_probs, dim=0) - math.log(passes)
            loss_sum += F.nll_loss(mean_log_prob, y, reduction="sum")
            predicted.append(mean_log_prob.argmax(dim=1))
            labels.append(y)
    if not labels:
        return math.nan, split.y[:0], split.y[:0]
    y = torch.cat(labels)
    return loss_sum.item() / len(y), torch.cat(predicted), y


class MCDropoutTest(Probe):
    """At the end of the run, the test split under Monte-Carlo dropout with ``samples`` passes:
    ``test_loss_mc``, ``test_acc_mc`` in metrics.json, beside the weight-scaling ``test_loss`` and
    ``test_acc``, ``mc_acc_gain`` = test_acc_mc - test_acc, what the explicit ensemble adds to the
    weight-scaling approximation, and ``mc_disagreement``, the share of test examples whose two
    predictions differ (0 unless the passes did switch dropout on). Batches of the run's
    ``eval_batch_size``, masks seeded by its seed."""

    def __init__(self, context: ProbeContext, samples: int = 20) -> None:
        require_count(samples=samples)
        require_classification(context, "mc_dropout")  # it averages class probabilities
        self.context, self.samples = context, samples

    def final_metrics(self) -> dict[str, Direction]:
        return {"test_loss_mc": "min", "test_acc_mc": "max", "mc_acc_gain": None, "mc_disagreement": None}

    def on_fit_end(self) -> dict[str, Any]:
        loss, mc, y = self.predict(self.samples)
        weight_scaling = self.predict(0)[1]
        acc = share(mc == y)
        return {
            "test_loss_mc": loss,
            "test_acc_mc": acc,
            "mc_acc_gain": acc - share(weight_scaling == y),
            "mc_disagreement": share(mc != weight_scaling),
        }

    def predict(self, samples: int) -> tuple[float, Tensor, Tensor]:
        c = self.context
        return mc_dropout_predict(
            c.model, c.split("test"), samples, c.eval_batch_size, c.seed, c.limit_batches
        )


def share(true: Tensor) -> float:
    """The share of the true elements of a boolean tensor (NaN for an empty one)."""
    return true.sum().item() / true.numel() if true.numel() else math.nan
