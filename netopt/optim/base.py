"""The step machinery every netopt optimizer shares: gather, group, dispatch (eagerly or compiled).

:class:`ForeachOptimizer` is a ``torch.optim.Optimizer`` whose ``step`` evaluates the closure,
skips parameters without a gradient, creates each parameter's state on its first step and hands
the rest to the subclass's ``_update`` as lists of tensors of one device and dtype, so the update
is written once with multi-tensor ``torch._foreach_*`` ops. With ``foreach=False`` the same update
runs on one-element lists, one parameter at a time; after :func:`netopt.optim.compile_update` it
runs through ``torch.compile``. Its base :class:`Optimizer` makes the calls around the update cheap
for small models; :class:`Wrapper` is the base of the optimizers that step through another (SAM,
the gradient transforms).
"""

import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeAlias

import torch
from torch import Tensor

from netopt.optim.hooks import hooked

State = dict[str, Any]
Group = dict[str, Any]
Tensors: TypeAlias = list[Tensor] | tuple[Tensor, ...]
"""Tensors as torch's multi-tensor ``_foreach_*`` ops take them; the out-of-place ops return tuples."""
Scalar: TypeAlias = float | Tensor
"""A per-step number of an update (a step size, a bias correction): a Python float when the update
runs eagerly, a 0-dim tensor while it is compiled (see :func:`scalar_values`)."""
Scalars: TypeAlias = Scalar | Sequence[Scalar]
"""One :data:`Scalar` for every tensor of a list, or one per tensor."""
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
    if torch.compiler.is_compiling():
        torch._foreach_add_(steps, 1.0)
    else:
        torch._foreach_add_(steps, _ONE, alpha=1.0)  # a tensor operand takes a much faster path than 1.0
    return steps


def scalar_values(tensors: Sequence[Tensor]) -> list[Scalar]:
    """The values of 0-dim tensors such as step counters: Python floats, or while the update is
    compiled the tensors themselves in float64, so the compiled update takes them as inputs
    (compiled once) instead of building them in as constants (compiled again at every step)."""
    if torch.compiler.is_compiling():
        return [t.to(torch.float64) for t in tensors]
    return [t.item() for t in tensors]


def step_counts(states: list[State]) -> list[Scalar]:
    """t <- t + 1 for every parameter's ``step`` (:func:`advance_steps`); returns the new t."""
    return scalar_values(advance_steps(states))


@torch.library.custom_op("netopt::materialize", mutates_args=())
def materialize(values: Tensor) -> Tensor:
    """A copy of ``values``: to the compiler an opaque op, so what computes ``values`` runs once
    instead of being fused into (and repeated in) the elementwise loops that read them."""
    return values.clone()


@materialize.register_fake
def _(values: Tensor) -> Tensor:
    return torch.empty_like(values)


def per_tensor(scalars: Sequence[Scalar], like: Tensor) -> Sequence[Scalar]:
    """One :data:`Scalar` per tensor of a multi-tensor op on tensors ``like`` this one: the list as
    given or, while compiling, computed once into a tensor on their device (the compiler would
    otherwise recompute, say, b2^t inside the loop over a tensor's elements, every few elements)."""
    if torch.compiler.is_compiling():
        return materialize(torch.stack(list(scalars)).to(like.device)).unbind()  # type: ignore[arg-type]
    return scalars


def add_scaled_(params: list[Tensor], tensors: Tensors, scale: Scalars) -> None:
    """theta <- theta + s * x in place, s one :data:`Scalar` for all tensors or one per tensor."""
    if isinstance(scale, Sequence):
        scale = per_tensor(scale, params[0])
    if isinstance(scale, (Tensor, Sequence)):
        torch._foreach_add_(params, torch._foreach_mul(tensors, scale))  # type: ignore[arg-type]
    else:
        torch._foreach_add_(params, tensors, alpha=scale)


def addcdiv_scaled_(params: list[Tensor], numerators: Tensors, denominators: Tensors, scale: Scalars) -> None:
    """theta <- theta + s * a / b in place, s one :data:`Scalar` for all tensors or one per tensor."""
    if isinstance(scale, Sequence):
        scale = per_tensor(scale, params[0])
    if torch.compiler.is_compiling():  # torch's fused op takes no tensor scalars there
        quotients = torch._foreach_div(numerators, denominators)
        torch._foreach_mul_(quotients, scale)  # type: ignore[arg-type]
        torch._foreach_add_(params, quotients)
    elif isinstance(scale, Sequence):
        torch._foreach_addcdiv_(params, numerators, denominators, scale)  # type: ignore[arg-type]
    else:
        torch._foreach_addcdiv_(params, numerators, denominators, value=scale)  # type: ignore[arg-type]


def by_device_and_dtype(tensors: list[Tensor]) -> list[list[Tensor]]:
    """Split a list of tensors into lists of one device and dtype, as multi-tensor kernels need."""
    groups: dict[tuple[torch.device, torch.dtype], list[Tensor]] = {}
    for t in tensors:
        groups.setdefault((t.device, t.dtype), []).append(t)
    return list(groups.values())


def closure_loss(closure: Callable[[], Any] | None) -> Any:
    """What ``closure`` returns (the loss, after backward), evaluated with autograd on; None without."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


class Optimizer(torch.optim.Optimizer):
    """``torch.optim.Optimizer`` with ``step`` and ``zero_grad`` that skip the profiler's record
    while no profiler runs, and :meth:`effective_lr`.

    torch wraps every ``step`` to open a ``record_function`` and run the step hooks, and opens one
    in ``zero_grad`` too, a cost that shows in a small model's step. Here the wrapped step runs only
    while a profiler runs or a step hook is registered, and ``zero_grad(set_to_none=True)`` just
    drops the gradients otherwise; both behave as torch's.
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

    def effective_lr(self, param: Tensor) -> Tensor | None:
        """The learning rate of each element of ``param`` in its latest update: a tensor shaped like
        ``param``, or None before its first step, for a tensor this optimizer does not update, and
        for optimizers without per-element rates (SGD, Lion: this default). Adaptive optimizers
        state their formula."""
        return None


class Wrapper(Optimizer):
    """An optimizer that steps through another, ``base``: the two share their param groups (a
    schedule setting ``lr`` reaches the base) and their state; ``state_dict`` is the base's, and
    :meth:`effective_lr` the base's. A subclass sets ``self.base`` and calls :meth:`share_with_base`.
    """

    base: torch.optim.Optimizer

    def share_with_base(self) -> None:
        """Make the base's param groups and state this optimizer's (its own defaults added)."""
        self.param_groups = self.base.param_groups
        self.state = self.base.state
        self.defaults = {**self.base.defaults, **self.defaults}

    def state_dict(self) -> dict[str, Any]:
        return self.base.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.base.load_state_dict(state_dict)
        self.share_with_base()

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)  # torch's keeps only its own keys, and a copy would lose the base

    def effective_lr(self, param: Tensor) -> Tensor | None:
        """The base optimizer's :meth:`Optimizer.effective_lr` (None if it has none)."""
        rates = getattr(self.base, "effective_lr", None)
        return None if rates is None else rates(param)


#: An update as :class:`ForeachOptimizer` runs it: (group, params, grads, states).
Update: TypeAlias = Callable[[Group, list[Tensor], Tensors, list[State]], None]


class ForeachOptimizer(Optimizer):
    r"""Base class: subclasses define ``_init_state(group, param, state)`` and
    ``_update(group, params, grads, states)``; ``step`` does everything else.

    ``compiled_update``: None (the update runs eagerly), or the update through ``torch.compile``
    that :func:`netopt.optim.compile_update` sets; a parameter's first update (which creates its
    state) runs eagerly either way.
    """

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        super().__init__(params, defaults)
        self.compiled_update: Update | None = None

    # --- state ---------------------------------------------------------------------------------
    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in self.defaults.items():
                group.setdefault(key, value)
        for param_state in self.state.values():
            if "step" in param_state and not torch.is_tensor(param_state["step"]):
                param_state["step"] = scalar_tensor(float(param_state["step"]))
        self.__dict__.setdefault("compiled_update", None)  # torch's __getstate__ keeps only its own keys

    def _state_and_group(self, param: Tensor) -> tuple[State, Group] | None:
        """The state of ``param`` and its param group; None before its first step."""
        state = self.state.get(param)
        if not state:
            return None
        return state, next(g for g in self.param_groups if any(p is param for p in g["params"]))

    # --- the step ------------------------------------------------------------------------------
    def _init_state(self, group: Group, param: Tensor, state: State) -> None:
        """Fill the empty ``state`` of ``param`` before its first update (default: nothing)."""

    def _update(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> None:
        raise NotImplementedError

    def _batches(self, group: Group) -> Iterator[tuple[list[Tensor], list[Tensor], list[State], bool]]:
        """The group's parameters that have a gradient, split by (device, dtype), or one by one when
        ``foreach=False``; each list with whether it holds a parameter's first update."""
        batches: dict[Any, tuple[list[Tensor], list[Tensor], list[State]]] = {}
        first: set[Any] = set()
        one_by_one = group.get("foreach") is False
        for p in group["params"]:
            grad = p.grad  # read once: each read is a call into torch, for every tensor at every step
            if grad is None:
                continue
            if grad.is_sparse:
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
            key = id(p) if one_by_one else (grad.device, grad.dtype)
            state = self.state[p]
            if not state:
                self._init_state(group, p, state)
                first.add(key)
            params, grads, states = batches.setdefault(key, ([], [], []))
            params.append(p)
            grads.append(grad)
            states.append(state)
        for key, (params, grads, states) in batches.items():
            yield params, grads, states, key in first

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; ``closure`` (re)computes the loss first."""
        loss = closure_loss(closure)
        for group in self.param_groups:
            for params, grads, states, first in self._batches(group):
                if first or self.compiled_update is None:
                    self._update(group, params, grads, states)
                else:
                    self.compiled_update(group, params, grads, states)
        return loss
