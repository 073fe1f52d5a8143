"""The step machinery every netopt optimizer shares: gather, group, dispatch.

:class:`ForeachOptimizer` is a ``torch.optim.Optimizer`` whose ``step`` evaluates the closure,
skips parameters without a gradient, creates each parameter's state on its first step and hands
the rest to the subclass's ``_update`` as lists of tensors of one device and dtype, so the update
is written once with multi-tensor ``torch._foreach_*`` ops. With ``foreach=False`` the same update
runs on one-element lists, one parameter at a time. Its base :class:`Optimizer` makes the calls
around the update cheap for small models.
"""

import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeAlias

import torch
from torch import Tensor

from netopt.optim.hooks import hooked

State = dict[str, Any]
Group = dict[str, Any]
Tensors: TypeAlias = list[Tensor] | tuple[Tensor, ...]
"""Tensors as torch's multi-tensor ``_foreach_*`` ops take them; the out-of-place ops return tuples."""
_ONE = torch.tensor(1.0)


def coupled_grads(params: list[Tensor], grads: Tensors, weight_decay: float, maximize: bool) -> Tensors:
    """The gradient an update descends: g + lambda * theta (coupled weight decay, i.e. L2), with g
    negated first when maximizing. The parameters' ``.grad`` tensors are never modified."""
    if maximize:
        grads = torch._foreach_neg(grads)
        if weight_decay != 0:
            torch._foreach_add_(grads, params, alpha=weight_decay)
    elif weight_decay != 0:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    return grads


def ema_of_squares_(avgs: list[Tensor], values: Tensors, decay: float) -> None:
    """The decaying average of squares, in place: v <- b * v + (1 - b) * g * g with b = ``decay``,
    v in ``avgs`` and g in ``values``."""
    torch._foreach_mul_(avgs, decay)
    torch._foreach_addcmul_(avgs, values, values, value=1 - decay)


def scalar_tensor(value: float) -> Tensor:
    """A 0-dim CPU tensor for per-parameter counters such as ``step``, in torch's dtype for them
    (float64 under a float64 default dtype, else float32), so state dicts interchange with torch."""
    dtype = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
    return torch.tensor(value, dtype=dtype)


def advance_steps(states: list[State]) -> list[Tensor]:
    """t <- t + 1 for every parameter's ``step``; returns the step tensors."""
    steps = [s["step"] for s in states]
    torch._foreach_add_(steps, _ONE, alpha=1.0)  # a tensor operand takes a much faster path than 1.0
    return steps


def by_device_and_dtype(tensors: list[Tensor]) -> list[list[Tensor]]:
    """Split a list of tensors into lists of one device and dtype, as multi-tensor kernels need."""
    groups: dict[tuple[torch.device, torch.dtype], list[Tensor]] = {}
    for t in tensors:
        groups.setdefault((t.device, t.dtype), []).append(t)
    return list(groups.values())


class Optimizer(torch.optim.Optimizer):
    """``torch.optim.Optimizer`` with ``step`` and ``zero_grad`` that skip the profiler's record
    while no profiler runs.

    torch wraps every ``step`` to open a ``record_function`` and run the step hooks, and opens one
    in ``zero_grad`` too: about 35 us a step together, 5% of a small model's step on a CPU. Here
    the wrapped step runs only while a profiler runs or a step hook is registered, and
    ``zero_grad(set_to_none=True)`` just drops the gradients otherwise; both behave as torch's.
    """

    @staticmethod
    def profile_hook_step(func: Callable[..., Any]) -> Callable[..., Any]:
        """``func`` inside torch's wrapper while that has something to do, else bare."""
        wrapped = torch.optim.Optimizer.profile_hook_step(func)

        @functools.wraps(func)
        def step(self: torch.optim.Optimizer, *args: Any, **kwargs: Any) -> Any:
            return (wrapped if hooked(self) else func)(self, *args, **kwargs)

        return step

    def zero_grad(self, set_to_none: bool = True) -> None:
        if not set_to_none or torch.autograd._profiler_enabled():
            super().zero_grad(set_to_none)
            return
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None


class ForeachOptimizer(Optimizer):
    """Base class: subclasses define ``_init_state(group, param, state)`` and
    ``_update(group, params, grads, states)``; ``step`` does everything else."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in self.defaults.items():
                group.setdefault(key, value)
        for param_state in self.state.values():
            if "step" in param_state and not torch.is_tensor(param_state["step"]):
                param_state["step"] = scalar_tensor(float(param_state["step"]))

    def _init_state(self, group: Group, param: Tensor, state: State) -> None:
        """Fill the empty ``state`` of ``param`` before its first update (default: nothing)."""

    def _update(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> None:
        raise NotImplementedError

    def _batches(self, group: Group) -> Iterator[tuple[list[Tensor], list[Tensor], list[State]]]:
        """The group's parameters that have a gradient, split by (device, dtype), or one by one when
        ``foreach=False``."""
        batches: dict[Any, tuple[list[Tensor], list[Tensor], list[State]]] = {}
        one_by_one = group.get("foreach") is False
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
            state = self.state[p]
            if not state:
                self._init_state(group, p, state)
            key = id(p) if one_by_one else (p.device, p.dtype)
            params, grads, states = batches.setdefault(key, ([], [], []))
            params.append(p)
            grads.append(p.grad)
            states.append(state)
        yield from batches.values()

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; ``closure`` (re)computes the loss first."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for params, grads, states in self._batches(group):
                self._update(group, params, grads, states)
        return loss
