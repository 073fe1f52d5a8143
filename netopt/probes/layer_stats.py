"""Per-layer signal statistics for the vanishing-gradient and covariate-shift discussions of the
chapter (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7): ``probes=layer_stats``.

Every ``every`` training steps :class:`LayerStats` logs, for each affine layer (Linear, Conv2d) and
each activation module of the model,

    act_mean/<layer>, act_std/<layer>   mean and standard deviation of the layer's output
    preact_mean/<activation>, preact_std/<activation>
                                        the same of the activation's input, the layer's pre-activation
                                        (the output of its affine map and normalization)
    grad_norm/<affine layer>            ||dL/dtheta||_2 over the layer's parameters
    saturation/<tanh layer>             share of the layer's outputs with |a| > 0.99

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
                       Ioffe & Szegedy 2015 (Batch Normalization). Taken after the normalization:
                       behind batch norm mu_l(t) is the mean of its shift beta, whatever its input does
    unit_shift         the same per unit of each hidden affine layer's output z = W x + b, *before* any
                       normalization (mu_j(t), sigma_j(t) over the batch, and the positions of a conv
                       channel), averaged over the units j and then over the layers: the drift of the
                       input each unit's normalization receives, which the normalization cannot hide
    saturation         the share of the outputs a of the tanh layers with |a| > 0.99 on the first
                       batch (step 0): a signal that passes the layers with its std intact
                       (signal_ratio near 1) may still pass it saturated, where tanh's gradient is ~0
"""

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from statistics import fmean
from typing import Any

import torch
from torch import Tensor, nn

from netopt.checks import require_count
from netopt.models import ACTIVATIONS
from netopt.optim.clip import grad_norm
from netopt.probes.base import Direction, Probe, ProbeContext

_AFFINE: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv2d)
_ACTIVATION = tuple(ACTIVATIONS.values())


def layer_name(name: str, module: nn.Module) -> str:
    """``"<module path>.<class>"``: a layer's name in the logged tags."""
    return f"{name}.{type(module).__name__}"


def affine_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The affine layers (Linear, Conv2d) of ``model`` by :func:`layer_name`, in order."""
    return {layer_name(n, m): m for n, m in model.named_modules() if isinstance(m, _AFFINE)}


@dataclass
class Drift:
    """How far a quantity's mean moves over the logged steps t in units of its spread,
    std_t(mu_t) / mean_t(sigma_t) (population std), from running sums (Welford's update of the mean
    and the sum of squared deviations of mu_t). mu_t and sigma_t are numbers, or tensors of one value
    per unit (summed on their device, no copy to the host until :meth:`shift`)."""

    count: int = 0
    mean: float | Tensor = 0.0  # of mu_t
    squares: float | Tensor = 0.0  # sum of (mu_t - mean)^2
    spread: float | Tensor = 0.0  # sum of sigma_t

    def add(self, mu: float | Tensor, sigma: float | Tensor) -> None:
        self.count += 1
        delta = mu - self.mean
        self.mean = self.mean + delta / self.count
        self.squares = self.squares + delta * (mu - self.mean)
        self.spread = self.spread + sigma

    def shift(self) -> float:
        """The ratio, averaged over the units with a spread (NaN where none has one)."""
        drift = torch.as_tensor(self.squares, dtype=torch.float64).div(self.count).sqrt().flatten()
        spread = torch.as_tensor(self.spread, dtype=torch.float64).div(self.count).flatten()
        spread_out = spread > 0
        return (drift[spread_out] / spread[spread_out]).mean().item() if spread_out.any() else math.nan


class LayerStats(Probe):
    """Log per-layer statistics of the context's model after every ``every``-th optimizer step
    (steps 0, every, 2 every, ...); sum them up at the end. Its running sums, and whether the coming
    forward pass is one to log, travel in the checkpoint."""

    def __init__(self, context: ProbeContext, every: int = 10) -> None:
        require_count(every=every)
        self.context, self.every = context, every
        watched = {
            layer_name(name, module): module
            for name, module in context.model.named_modules()
            if isinstance(module, _AFFINE + _ACTIVATION)
        }
        self.affine = {name: module for name, module in watched.items() if isinstance(module, _AFFINE)}
        self.activations = [name for name, module in watched.items() if isinstance(module, _ACTIVATION)]
        self.hidden = list(self.affine)[:-1]  # the last affine layer is the classifier
        self.tanhs = [name for name, module in watched.items() if isinstance(module, nn.Tanh)]
        self.stats: dict[str, Tensor] = {}
        self.units: dict[str, tuple[Tensor, Tensor]] = {}  # hidden layer: its output's (mean, std) per unit
        self.armed = True  # whether the coming forward pass is one to log: step 0's is
        self.handles = [module.register_forward_hook(self._hook(name)) for name, module in watched.items()]
        self.signal_ratio: float | None = None
        self.preact: dict[str, Drift] = {}
        self.unit_preact: dict[str, Drift] = {}
        self.saturation: float | None = None

    def final_metrics(self) -> dict[str, Direction]:
        return {"signal_ratio": None, "preact_shift": None, "unit_shift": None, "saturation": None}

    def _hook(self, name: str) -> Callable[[nn.Module, tuple[Tensor, ...], Tensor], None]:
        def record(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            if self.armed and module.training:
                self._keep("act", name, output)
                if isinstance(module, _ACTIVATION):
                    self._keep("preact", name, inputs[0])
                if name in self.hidden:
                    self.units[name] = per_unit(output)
                if isinstance(module, nn.Tanh):
                    self.stats[f"saturation/{name}"] = (output.detach().abs() > 0.99).float().mean()

        return record

    def _keep(self, kind: str, name: str, x: Tensor) -> None:
        std, mean = torch.std_mean(x.detach().float())
        self.stats[f"{kind}_mean/{name}"], self.stats[f"{kind}_std/{name}"] = mean, std

    def on_step(self, step: int) -> None:
        """After training step ``step``: log its statistics and add them to the running sums if
        ``step % every == 0``; arm the hooks for the next step."""
        if self.armed and step % self.every == 0:
            values = dict(self.stats)
            for name, module in self.affine.items():
                if any(p.grad is not None for p in module.parameters()):
                    values[f"grad_norm/{name}"] = grad_norm(module.parameters()).float()
            if values:  # one device-to-host copy for all of them
                logged = dict(zip(values, torch.stack(list(values.values())).tolist(), strict=True))
                self.context.recorder.scalars(logged, step)
                self._accumulate(logged, step)
            for name, (mu, sigma) in self.units.items():
                self.unit_preact.setdefault(name, Drift()).add(mu, sigma)
        self.stats.clear()
        self.units.clear()
        self.armed = (step + 1) % self.every == 0

    def _accumulate(self, logged: Mapping[str, float], step: int) -> None:
        """Add the values logged at ``step`` to the summaries of :meth:`on_fit_end`."""
        if step == 0 and self.activations:
            first, last = (logged.get(f"act_std/{self.activations[i]}") for i in (0, -1))
            if first is not None and last is not None:
                self.signal_ratio = ratio(last, first)
            if self.tanhs:
                self.saturation = fmean(logged[f"saturation/{name}"] for name in self.tanhs)
        for name in self.activations:
            if f"preact_mean/{name}" in logged:
                self.preact.setdefault(name, Drift()).add(
                    logged[f"preact_mean/{name}"], logged[f"preact_std/{name}"]
                )

    def on_fit_end(self) -> dict[str, Any]:
        """``signal_ratio``, ``saturation``, ``preact_shift``, ``unit_shift`` (each where it was logged)."""
        summary: dict[str, Any] = {}
        if self.signal_ratio is not None:
            summary["signal_ratio"] = self.signal_ratio
        if self.saturation is not None:
            summary["saturation"] = self.saturation
        for key, drifts in (("preact_shift", self.preact), ("unit_shift", self.unit_preact)):
            if drifts:
                summary[key] = fmean(drift.shift() for drift in drifts.values())
        return summary

    def state_dict(self) -> dict[str, Any]:
        return {
            "armed": self.armed,
            "signal_ratio": self.signal_ratio,
            "saturation": self.saturation,
            "preact": {name: asdict(drift) for name, drift in self.preact.items()},
            "unit_preact": {name: asdict(drift) for name, drift in self.unit_preact.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (a resumed run goes on summing where it stopped)."""
        self.armed = state["armed"]
        self.signal_ratio = state["signal_ratio"]
        self.saturation = state["saturation"]
        self.preact = {name: Drift(**sums) for name, sums in state["preact"].items()}
        self.unit_preact = {name: Drift(**sums) for name, sums in state["unit_preact"].items()}

    def close(self) -> None:
        """Remove the hooks."""
        for handle in self.handles:
            handle.remove()


def per_unit(x: Tensor) -> tuple[Tensor, Tensor]:
    """The mean and std of each unit of ``x``, dimension 1 (a feature, a channel), over
    all the others (the batch, the positions)."""
    dims = [d for d in range(x.dim()) if d != 1]
    std, mean = torch.std_mean(x.detach().float(), dim=dims)
    return mean, std


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator; NaN over 0 (no scale to measure against)."""
    return numerator / denominator if denominator else math.nan
