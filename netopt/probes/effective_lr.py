"""Effective learning rates of an adaptive optimizer, per layer, for the chapter's adaptive learning
rates (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7): ``probes=effective_lr``.

An adaptive method gives every weight its own rate: the step is Delta theta = -alpha_eff * g (with g
its gradient or moment; the optimizer's ``effective_lr`` gives alpha_eff element by element). Every
``every`` training steps :class:`EffectiveLR` logs, for each affine layer (Linear, Conv2d) with a
plain weight,

    optim/effective_lr_median/<layer>, optim/effective_lr_p90/<layer>
                                        median and 90th percentile of alpha_eff over the layer's weight

to TensorBoard, and at the end, for metrics.json,

    effective_lr_rise  max over the affine layers and consecutive logged steps t' < t of
                       m(t) / m(t') - 1, m the layer's median effective lr; rises of less than
                       ``RISE_RTOL`` (float noise of the median) count as none, and 0 says it never rose

AdaGrad's rates only fall (its accumulated squares only grow); RMSprop's and Adam's moving averages
forget, so theirs rise again when gradients shrink. An optimizer without ``effective_lr`` (SGD) logs
nothing.
"""

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from netopt.checks import require_count
from netopt.probes.base import Direction, Probe, ProbeContext
from netopt.probes.layer_stats import affine_layers

_PERCENTILES = {"median": 0.5, "p90": 0.9}
#: The smallest relative rise of a median effective lr that counts as one (below: rounding in the
#: median's interpolation, e.g. AdaGrad's, which never rises in exact arithmetic).
RISE_RTOL = 1e-6


class EffectiveLR(Probe):
    """Log the effective learning rates of the context's optimizer after every ``every``-th step
    (steps 0, every, 2 every, ...); their largest rise at the end."""

    def __init__(self, context: ProbeContext, every: int = 10) -> None:
        require_count(every=every)
        self.context, self.every = context, every
        self.affine = affine_layers(context.model)
        self.lr_median: dict[str, float] = {}  # per affine layer, at the latest logged step
        self.lr_rise = 0.0

    def final_metrics(self) -> dict[str, Direction]:
        return {"effective_lr_rise": None}

    def on_step(self, step: int) -> None:
        effective_lr = getattr(self.context.optimizer, "effective_lr", None)
        if step % self.every or effective_lr is None:
            return
        values: dict[str, Tensor] = {}
        for name, module in self.affine.items():
            weight = dict(module.named_parameters(recurse=False)).get("weight")  # none if weight-normed
            rates = None if weight is None else effective_lr(weight)
            if rates is not None:
                fractions = torch.tensor(list(_PERCENTILES.values()), device=rates.device)
                for label, value in zip(_PERCENTILES, percentiles(rates.float(), fractions), strict=True):
                    values[f"optim/effective_lr_{label}/{name}"] = value
        if values:  # one device-to-host copy for all of them
            logged = dict(zip(values, torch.stack(list(values.values())).tolist(), strict=True))
            self.context.recorder.scalars(logged, step)
            self._accumulate(logged)

    def _accumulate(self, logged: Mapping[str, float]) -> None:
        for name in self.affine:
            median = logged.get(f"optim/effective_lr_median/{name}")
            if median is None:
                continue
            previous = self.lr_median.get(name)
            if previous is not None and median - previous > RISE_RTOL * previous:
                self.lr_rise = max(self.lr_rise, (median - previous) / previous if previous else math.inf)
            self.lr_median[name] = median

    def on_fit_end(self) -> dict[str, Any]:
        """``effective_lr_rise``, where a rate was logged."""
        return {"effective_lr_rise": self.lr_rise} if self.lr_median else {}

    def state_dict(self) -> dict[str, Any]:
        return {"lr_median": dict(self.lr_median), "lr_rise": self.lr_rise}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.lr_median, self.lr_rise = dict(state["lr_median"]), state["lr_rise"]


def percentiles(values: Tensor, fractions: Tensor) -> Tensor:
    """The quantiles of all entries of ``values`` at ``fractions``, interpolated linearly between the
    order statistics (as ``torch.quantile``, without its limit of 2^24 entries)."""
    ordered = values.flatten().sort().values
    position = fractions * (ordered.numel() - 1)
    below = position.floor().long()
    return torch.lerp(ordered[below], ordered[position.ceil().long()], position - below)
