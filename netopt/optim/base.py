"""The step machinery every netopt optimizer shares: gather, group, add gradient noise, dispatch
(eagerly or compiled).

:class:`ForeachOptimizer` is a ``torch.optim.Optimizer`` whose ``step`` evaluates the closure,
skips parameters without a gradient, creates each parameter's state on its first step and hands
the rest to the subclass's ``_update`` as lists of tensors of one device and dtype, so the update
is written once with multi-tensor ``torch._foreach_*`` ops. With ``foreach=False`` the same update
runs on one-element lists, one parameter at a time. Before the update it adds gradient noise
(``grad_noise``); with ``compile=True`` the update runs through ``torch.compile``. Its base
:class:`Optimizer` makes the calls around the update cheap for small models.
"""

import functools
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeAlias

import torch
from torch import Tensor

from netopt.checks import require_nonnegative
from netopt.compiling import Compiled
from netopt.optim.hooks import hooked

log = logging.getLogger(__name__)

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


def random_seed() -> int:
    """A seed drawn from torch's global generator (so ``torch.manual_seed`` fixes it)."""
    return int(torch.randint(2**62, ()).item())


class Optimizer(torch.optim.Optimizer):
    """``torch.optim.Optimizer`` with ``step`` and ``zero_grad`` that skip the profiler's record
    while no profiler runs, and :meth:`effective_lr`.

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

    def effective_lr(self, param: Tensor) -> Tensor | None:
        """The learning rate of each element of ``param`` in its latest update: a tensor shaped like
        ``param``, or None before its first step, for a tensor this optimizer does not update, and
        for optimizers without per-element rates (SGD, Lion: this default). Adaptive optimizers
        state their formula."""
        return None


class ForeachOptimizer(Optimizer):
    r"""Base class: subclasses define ``_init_state(group, param, state)`` and
    ``_update(group, params, grads, states)``; ``step`` does everything else.

    Every subclass takes three keyword-only options, kept in its param groups, that this class
    implements:

    ``grad_noise`` eta, ``grad_noise_decay`` gamma: gradient noise (Neelakantan et al. 2015, "Adding
    Gradient Noise Improves Learning for Very Deep Networks"). Before each update::

        g <- g + n,   n ~ N(0, sigma_t^2 I),   sigma_t^2 = eta / (1 + t)^gamma

    with t the optimizer's step count (0 on its first step), added to the loss gradient before
    weight decay. eta = 0 (the default) turns it off at no cost. The noise is drawn from the
    optimizer's own ``torch.Generator`` on the parameters' device, seeded from torch's global
    generator when the optimizer is built (or when noise is first switched on in a param group), one
    draw per list of tensors of one device and dtype. ``state_dict`` saves t and the generator's
    state under ``"grad_noise"``, beside torch's keys, so a resumed run draws the same noise as one
    that never stopped.

    ``compile``: the update runs through ``torch.compile`` (one graph, ``fullgraph=True``), with the
    lr and the step counts as tensor inputs so it compiles once, not at every step. A parameter's
    first update (which creates its state) runs eagerly. The seconds spent compiling are logged
    once and kept in ``compile_time_s``; where no compiler works, one warning and the eager update.
    """

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        require_nonnegative(grad_noise=defaults["grad_noise"], grad_noise_decay=defaults["grad_noise_decay"])
        super().__init__(params, defaults)
        noisy = any(group["grad_noise"] > 0 for group in self.param_groups)
        self._init_step_machinery(random_seed() if noisy else None)

    def _init_step_machinery(self, noise_seed: int | None = None) -> None:
        self._steps = 0  # t, the number of steps taken
        self._noise_seed = noise_seed
        self._generators: dict[str, torch.Generator] = {}
        self._saved_generators: dict[str, Tensor] = {}  # loaded states of generators not made yet
        self._compiled: Compiled | None = None
        self._compiled_batches: set[int] = set()
        self.compile_time_s = 0.0

    # --- state ---------------------------------------------------------------------------------
    def _noise_state(self) -> dict[str, Any]:
        generators = {name: g.get_state() for name, g in self._generators.items()}
        return {
            "step": self._steps,
            "seed": self._noise_seed,
            "generators": self._saved_generators | generators,
        }

    def _load_noise_state(self, saved: dict[str, Any]) -> None:
        self._steps, self._noise_seed = saved["step"], saved["seed"]
        self._generators, self._saved_generators = {}, dict(saved["generators"])

    def state_dict(self) -> dict[str, Any]:
        """torch's state dict (``state``, ``param_groups``) and ``grad_noise``: the step count t, the
        noise seed and the state of each device's noise generator."""
        return {**super().state_dict(), "grad_noise": self._noise_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict of this optimizer or of its torch namesake (which has no ``grad_noise``:
        the step count and the noise generator are then kept as they are)."""
        super().load_state_dict(state_dict)
        if "grad_noise" in state_dict:
            self._load_noise_state(state_dict["grad_noise"])

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "grad_noise": self._noise_state()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        noise = state.get("grad_noise")
        super().__setstate__({key: value for key, value in state.items() if key != "grad_noise"})
        for group in self.param_groups:
            for key, value in self.defaults.items():
                group.setdefault(key, value)
        for param_state in self.state.values():
            if "step" in param_state and not torch.is_tensor(param_state["step"]):
                param_state["step"] = scalar_tensor(float(param_state["step"]))
        if not hasattr(self, "_steps"):  # unpickled: torch's __getstate__ keeps only its own keys
            self._init_step_machinery()
        if noise is not None:
            self._load_noise_state(noise)

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
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            std = self._noise_std(group)
            for params, grads, states, first in self._batches(group):
                noisy = self._noisy(grads, std) if std else grads
                if group["compile"] and not first and not self._compile_failed:
                    self._update_compiled(group, params, noisy, states)
                else:
                    self._update(group, params, noisy, states)
        self._steps += 1
        return loss

    # --- gradient noise ------------------------------------------------------------------------
    def _noise_std(self, group: Group) -> float:
        """sigma_t = sqrt(eta / (1 + t)^gamma), 0 while the group's ``grad_noise`` eta is 0."""
        eta = group["grad_noise"]
        return math.sqrt(eta / (1 + self._steps) ** group["grad_noise_decay"]) if eta > 0 else 0.0

    def _generator(self, device: torch.device) -> torch.Generator:
        """The noise generator on ``device``: restored from a loaded state, else seeded."""
        name = str(device)
        if name not in self._generators:
            generator = torch.Generator(device)
            if name in self._saved_generators:
                generator.set_state(self._saved_generators.pop(name))
            else:
                if self._noise_seed is None:  # noise switched on after the optimizer was built
                    self._noise_seed = random_seed()
                generator.manual_seed(self._noise_seed)
            self._generators[name] = generator
        return self._generators[name]

    def _noisy(self, grads: list[Tensor], std: float) -> Tensors:
        """g + std * n, n ~ N(0, I), as new tensors: one draw for the list (one device and dtype)."""
        sizes = [g.numel() for g in grads]
        device, dtype = grads[0].device, grads[0].dtype
        noise = torch.randn(sum(sizes), generator=self._generator(device), device=device, dtype=dtype)
        return torch._foreach_add(
            grads, [n.view_as(g) for n, g in zip(noise.split(sizes), grads, strict=True)], alpha=std
        )

    # --- compiled update -----------------------------------------------------------------------
    def _update_compiled(
        self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]
    ) -> None:
        """``_update`` through ``torch.compile`` (:class:`~netopt.compiling.Compiled`), the group's lr a
        float64 tensor input; the eager update (after one warning) if compiling fails."""
        if self._compiled is None:
            self._compiled = Compiled(
                self._update,
                f"{type(self).__name__}: compile=True",
                "the update",
                eager=lambda g, *rest: self._update({**g, "lr": g["lr"].item()}, *rest),
                fullgraph=True,
                # dynamo's guards already check every input's sizes and strides before each call; the
                # generated code's own checks of them cost about 50 us a step for ResNet-18's 62 tensors
                options={"size_asserts": False},
            )
        start = time.perf_counter()
        self._compiled({**group, "lr": torch.tensor(group["lr"], dtype=torch.float64)}, params, grads, states)
        if self._compiled.failed:
            return
        if id(params[0]) not in self._compiled_batches:  # this call compiled the update for the list
            seconds = time.perf_counter() - start
            if not self._compiled_batches:
                log.info("%s: compiled the update in %.1f s", type(self).__name__, seconds)
            self._compiled_batches.add(id(params[0]))
            self.compile_time_s += seconds

    @property
    def _compile_failed(self) -> bool:
        """Whether compiling the update failed (it then runs eagerly)."""
        return self._compiled is not None and self._compiled.failed
