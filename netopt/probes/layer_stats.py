"""Per-layer signal statistics for the vanishing-gradient, covariate-shift and adaptive-lr discussions
of the chapter (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7).

Every ``every`` training steps :class:`LayerStats` logs, for each affine layer (Linear, Conv2d) and
each activation module of the model,

    act_mean/<layer>, act_std/<layer>   mean and standard deviation of the layer's output
    preact_mean/<activation>, preact_std/<activation>
                                        the same of the activation's input, the layer's pre-activation
                                        (the output of its affine map and normalization)
    grad_norm/<affine layer>            ||dL/dtheta||_2 over the layer's parameters
    optim/effective_lr_median/<affine layer>, optim/effective_lr_p90/<affine layer>
                                        median and 90th percentile over the elements of the layer's
                                        weight of the learning rate of its latest update, for an
                                        adaptive optimizer (its ``effective_lr``)

to TensorBoard. Forward hooks take the statistics of training forward passes only; the gradients
are read after the step, where the closure's backward left them. A signal that vanishes shows as
act_std or grad_norm falling by orders of magnitude from the last layer to the first.

At the end of the run it sums up what it logged, for metrics.json (:meth:`LayerStats.on_fit_end`):

    signal_ratio       act_std of the last activation over that of the first, on the first batch
                       (step 0: at initialization, before any update)
    preact_shift       std_t(mu_l(t)) / mean_t(sigma_l(t)), averaged over the activations l, where
                       mu_l(t), sigma_l(t) are the pre-activation mean and std of l at the logged step t
                       (population std over the logged steps): how far the inputs of each layer move
                       over training in units of their spread, the internal covariate shift of
                       Ioffe & Szegedy 2015 (Batch Normalization)
    effective_lr_rise  max over the affine layers and consecutive logged steps t' < t of
                       m(t) / m(t') - 1, m the layer's median effective lr; rises of less than
                       ``RISE_RTOL`` (float noise of the median) count as none, and 0 says it never rose
"""

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from statistics import fmean
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from netopt.models import ACTIVATIONS
from netopt.optim.clip import grad_norm
from netopt.watchers import Watcher

_AFFINE: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv2d)
_ACTIVATION = tuple(ACTIVATIONS.values())
_PERCENTILES = {"median": 0.5, "p90": 0.9}
#: The smallest relative rise of a median effective lr that counts as one (below: rounding in the
#: median's interpolation, e.g. AdaGrad's, which never rises in exact arithmetic).
RISE_RTOL = 1e-6


class ScalarWriter(Protocol):
    def scalars(self, values: Mapping[str, float], step: int) -> None: ...


@dataclass
class Drift:
    """How far a quantity's mean moves over the logged steps t in units of its spread,
    std_t(mu_t) / mean_t(sigma_t) (population std), from running sums (Welford's update of the mean
    and the sum of squared deviations of mu_t)."""

    count: int = 0
    mean: float = 0.0  # of mu_t
    squares: float = 0.0  # sum of (mu_t - mean)^2
    spread: float = 0.0  # sum of sigma_t

    def add(self, mu: float, sigma: float) -> None:
        self.count += 1
        delta = mu - self.mean
        self.mean += delta / self.count
        self.squares += delta * (mu - self.mean)
        self.spread += sigma

    def shift(self) -> float:
        return _ratio(math.sqrt(self.squares / self.count), self.spread / self.count)


class LayerStats(Watcher):
    """Log per-layer statistics of ``model`` every ``every`` optimizer steps once :meth:`follow` has
    attached it to the optimizer; sum them up at the end (a :class:`netopt.watchers.Watcher`, whose
    running sums travel in the checkpoint)."""

    def __init__(self, model: nn.Module, every: int) -> None:
        if every < 1:
            raise ValueError(f"every must be a positive number of steps, got {every}")
        self.every = every
        watched = {
            f"{name}.{type(module).__name__}": module
            for name, module in model.named_modules()
            if isinstance(module, _AFFINE + _ACTIVATION)
        }
        self.affine = {name: module for name, module in watched.items() if isinstance(module, _AFFINE)}
        self.activations = [name for name, module in watched.items() if isinstance(module, _ACTIVATION)]
        self.stats: dict[str, Tensor] = {}
        self.effective_lr: Callable[[Tensor], Tensor | None] | None = None  # set by follow
        self.armed = False  # whether the coming forward pass is one to log (from follow on)
        self.handles = [module.register_forward_hook(self._hook(name)) for name, module in watched.items()]
        self.signal_ratio: float | None = None
        self.preact: dict[str, Drift] = {}
        self.lr_median: dict[str, float] = {}  # per affine layer, at the latest logged step
        self.lr_rise = 0.0

    def _hook(self, name: str) -> Callable[[nn.Module, tuple[Tensor, ...], Tensor], None]:
        def record(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            if self.armed and module.training:
                self._keep("act", name, output)
                if isinstance(module, _ACTIVATION):
                    self._keep("preact", name, inputs[0])

        return record

    def _keep(self, kind: str, name: str, x: Tensor) -> None:
        std, mean = torch.std_mean(x.detach().float())
        self.stats[f"{kind}_mean/{name}"], self.stats[f"{kind}_std/{name}"] = mean, std

    def step(self, t: int, writer: ScalarWriter) -> None:
        """After training step ``t``: log its statistics to ``writer`` and add them to the running sums
        if ``t % every == 0``; arm the hooks for t + 1."""
        if self.armed and t % self.every == 0:
            values = dict(self.stats)
            for name, module in self.affine.items():
                if any(p.grad is not None for p in module.parameters()):
                    values[f"grad_norm/{name}"] = grad_norm(module.parameters()).float()
            if self.effective_lr is not None:
                values |= self._effective_lrs(self.effective_lr)
            if values:  # one device-to-host copy for all of them
                logged = dict(zip(values, torch.stack(list(values.values())).tolist(), strict=True))
                writer.scalars(logged, t)
                self._accumulate(logged, t)
        self.stats.clear()
        self.armed = (t + 1) % self.every == 0

    def _effective_lrs(self, effective_lr: Callable[[Tensor], Tensor | None]) -> dict[str, Tensor]:
        """The median and 90th percentile of the effective learning rate of each affine layer's weight
        (a plain parameter; weight-normalized layers have none)."""
        values = {}
        for name, module in self.affine.items():
            weight = dict(module.named_parameters(recurse=False)).get("weight")
            rates = None if weight is None else effective_lr(weight)
            if rates is not None:
                fractions = torch.tensor(list(_PERCENTILES.values()), device=rates.device)
                for label, value in zip(_PERCENTILES, percentiles(rates.float(), fractions), strict=True):
                    values[f"optim/effective_lr_{label}/{name}"] = value
        return values

    def _accumulate(self, logged: Mapping[str, float], t: int) -> None:
        """Add the values logged at step ``t`` to the summaries of :meth:`on_fit_end`."""
        if t == 0 and self.activations:
            first, last = (logged.get(f"act_std/{self.activations[i]}") for i in (0, -1))
            if first is not None and last is not None:
                self.signal_ratio = _ratio(last, first)
        for name in self.activations:
            if f"preact_mean/{name}" in logged:
                self.preact.setdefault(name, Drift()).add(
                    logged[f"preact_mean/{name}"], logged[f"preact_std/{name}"]
                )
        for name in self.affine:
            median = logged.get(f"optim/effective_lr_median/{name}")
            if median is None:
                continue
            previous = self.lr_median.get(name)
            if previous is not None and median - previous > RISE_RTOL * previous:
                self.lr_rise = max(self.lr_rise, (median - previous) / previous if previous else math.inf)
            self.lr_median[name] = median

    def on_fit_end(self) -> dict[str, Any]:
        """``signal_ratio``, ``preact_shift`` and ``effective_lr_rise`` (each where it was logged)."""
        summary: dict[str, Any] = {}
        if self.signal_ratio is not None:
            summary["signal_ratio"] = self.signal_ratio
        if self.preact:
            summary["preact_shift"] = fmean(drift.shift() for drift in self.preact.values())
        if self.lr_median:
            summary["effective_lr_rise"] = self.lr_rise
        return summary

    def state_dict(self) -> dict[str, Any]:
        return {
            "signal_ratio": self.signal_ratio,
            "preact": {name: asdict(drift) for name, drift in self.preact.items()},
            "lr_median": dict(self.lr_median),
            "lr_rise": self.lr_rise,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (a resumed run goes on summing where it stopped)."""
        self.signal_ratio = state["signal_ratio"]
        self.preact = {name: Drift(**sums) for name, sums in state["preact"].items()}
        self.lr_median = dict(state["lr_median"])
        self.lr_rise = state["lr_rise"]

    def follow(self, optimizer: torch.optim.Optimizer, writer: ScalarWriter, start: int = 0) -> "LayerStats":
        """Call :meth:`step` with ``writer`` after every ``optimizer.step``, counting steps from
        ``start``, and log the effective learning rates if the optimizer has them (``effective_lr``)."""
        self.effective_lr = getattr(optimizer, "effective_lr", None)
        steps = itertools.count(start)
        self.armed = start % self.every == 0
        self.handles.append(optimizer.register_step_post_hook(lambda *_: self.step(next(steps), writer)))
        return self

    def close(self) -> None:
        """Remove the hooks."""
        for handle in self.handles:
            handle.remove()


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator; NaN over 0 (no scale to measure against)."""
    return numerator / denominator if denominator else math.nan


def percentiles(values: Tensor, fractions: Tensor) -> Tensor:
    """The quantiles of all entries of ``values`` at ``fractions``, interpolated linearly between the
    order statistics (as ``torch.quantile``, without its limit of 2^24 entries)."""
    ordered = values.flatten().sort().values
    position = fractions * (ordered.numel() - 1)
    below = position.floor().long()
    return torch.lerp(ordered[below], ordered[position.ceil().long()], position - below)
