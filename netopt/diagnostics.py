"""Per-layer signal statistics for the vanishing-gradient discussion of the chapter (Qiu Xipeng,
Neural Networks and Deep Learning, ch. 7).

Every ``every`` training steps :class:`LayerStats` logs, for each affine layer (Linear, Conv2d) and
each activation module of the model,

    act_mean/<layer>, act_std/<layer>   mean and standard deviation of the layer's output
    grad_norm/<affine layer>            ||dL/dtheta||_2 over the layer's parameters
    optim/effective_lr_median/<affine layer>, optim/effective_lr_p90/<affine layer>
                                        median and 90th percentile over the elements of the layer's
                                        weight of the learning rate of its latest update, for an
                                        adaptive optimizer followed with :meth:`LayerStats.follow`

to TensorBoard. Forward hooks take the statistics of training forward passes only; the gradients
are read after the step, where the closure's backward left them. A signal that vanishes shows as
act_std or grad_norm falling by orders of magnitude from the last layer to the first.
"""

import itertools
from collections.abc import Callable, Mapping
from typing import Protocol

import torch
from torch import Tensor, nn

from netopt.models import ACTIVATIONS
from netopt.optim.clip import grad_norm

_AFFINE: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv2d)
_ACTIVATION = tuple(ACTIVATIONS.values())
_PERCENTILES = {"median": 0.5, "p90": 0.9}


class ScalarWriter(Protocol):
    def scalars(self, values: Mapping[str, float], step: int) -> None: ...


class LayerStats:
    """Log per-layer activation mean/std and gradient norms of ``model`` every ``every`` steps.

    Call :meth:`step` after every training step t (it logs when t is a multiple of ``every``), or
    let :meth:`follow` call it after every step of an optimizer.
    """

    def __init__(self, model: nn.Module, writer: ScalarWriter, every: int) -> None:
        if every < 1:
            raise ValueError(f"every must be a positive number of steps, got {every}")
        self.writer, self.every = writer, every
        watched = {
            f"{name}.{type(module).__name__}": module
            for name, module in model.named_modules()
            if isinstance(module, _AFFINE + _ACTIVATION)
        }
        self.affine = {name: module for name, module in watched.items() if isinstance(module, _AFFINE)}
        self.stats: dict[str, Tensor] = {}
        self.effective_lr: Callable[[Tensor], Tensor | None] | None = None  # set by follow
        self.armed = True  # whether the coming forward pass is one to log
        self.handles = [module.register_forward_hook(self._hook(name)) for name, module in watched.items()]

    def _hook(self, name: str) -> Callable[[nn.Module, tuple[Tensor, ...], Tensor], None]:
        def record(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            if self.armed and module.training:
                std, mean = torch.std_mean(output.detach().float())
                self.stats[f"act_mean/{name}"], self.stats[f"act_std/{name}"] = mean, std

        return record

    def step(self, t: int) -> None:
        """After training step ``t``: log its statistics if ``t % every == 0``; arm the hooks for t + 1."""
        if self.armed and t % self.every == 0:
            values = dict(self.stats)
            for name, module in self.affine.items():
                if any(p.grad is not None for p in module.parameters()):
                    values[f"grad_norm/{name}"] = grad_norm(module.parameters()).float()
            if self.effective_lr is not None:
                values |= self._effective_lrs(self.effective_lr)
            if values:  # one device-to-host copy for all of them
                self.writer.scalars(
                    dict(zip(values, torch.stack(list(values.values())).tolist(), strict=True)), t
                )
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

    def follow(self, optimizer: torch.optim.Optimizer, start: int = 0) -> "LayerStats":
        """Call :meth:`step` after every ``optimizer.step``, counting steps from ``start``, and log
        the effective learning rates if the optimizer has them (``effective_lr``)."""
        self.effective_lr = getattr(optimizer, "effective_lr", None)
        steps = itertools.count(start)
        self.armed = start % self.every == 0
        self.handles.append(optimizer.register_step_post_hook(lambda *_: self.step(next(steps))))
        return self

    def close(self) -> None:
        """Remove the hooks."""
        for handle in self.handles:
            handle.remove()


def percentiles(values: Tensor, fractions: Tensor) -> Tensor:
    """The quantiles of all entries of ``values`` at ``fractions``, interpolated linearly between the
    order statistics (as ``torch.quantile``, without its limit of 2^24 entries)."""
    ordered = values.flatten().sort().values
    position = fractions * (ordered.numel() - 1)
    below = position.floor().long()
    return torch.lerp(ordered[below], ordered[position.ceil().long()], position - below)
