"""Learning-rate schedules (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7):
functions ``factor(t)`` of the 0-based step t that multiply each param group's base learning rate,
as PyTorch's ``LambdaLR`` and optax's ``scale_by_schedule`` do.

Every schedule is a factory over the :class:`Timeline` of the run it is laid on; its hyperparameters
come from ``conf/scheduler/<name>.yaml`` and the runner supplies the run's length:

    factor = netopt.schedules.cosine(total_steps=1000, steps_per_epoch=100)
    group["lr"] = group["initial_lr"] * factor(t)

With alpha_0 the base rate of a group (the chapter's initial learning rate), a schedule's value
alpha_t = alpha_0 * factor(t); the factor starts at 1 for every decay and peaks at 1 for the cyclic
ones (the optimizer's lr plays torch's ``max_lr``). Floors are fractions of alpha_0 too
(``min_factor``: torch's ``eta_min`` / ``min_lr`` divided by the base rate), so every group keeps its
ratio to the others. Durations (periods, milestones, cycle lengths, warm-up) are given in ``unit``
("epoch" or "step") and rounded to whole steps with ``steps_per_epoch``; decay rates are per unit,
applied every step (an exponential schedule with gamma per epoch decays smoothly, reaching gamma**k
after k epochs).

Warm-up (any schedule, ``warmup`` > 0): for t < T' the factor grows linearly, f_t = f_0 * (t+1)/T'
(the chapter writes t/T', which starts at zero), where f_0 is the schedule's first factor; then the
schedule runs on the remaining T - T' steps as if they were the whole run.

:class:`ReduceLROnPlateau` is the one schedule with state: a :class:`netopt.watchers.Watcher`, it
lowers its factor after validations that do not improve a metric. The hyperparameters carry torch's
names; PyTorch's ``lr_scheduler`` module is the test oracle.
"""

import functools
import inspect
import math
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate, pairwise
from typing import Any, Literal

from netopt.checks import require, require_choice, require_count, require_nonnegative, require_positive
from netopt.watchers import Watcher, metric_mode

Schedule = Callable[[int], float]
Unit = Literal["epoch", "step"]


@dataclass(frozen=True)
class Timeline:
    """The steps a schedule is laid over: how many the run has, and how the config's durations
    (in ``unit``, the warm-up among them) become whole steps."""

    total_steps: int
    steps_per_epoch: int
    unit: Unit = "epoch"
    warmup: float = 0.0

    def __post_init__(self) -> None:
        require_choice("unit", self.unit, ("epoch", "step"))
        require_nonnegative(warmup=self.warmup)
        require(
            self.warmup_steps < max(self.total_steps, 1) or self.warmup == 0,
            "warmup",
            self.too_long,
            self.warmup,
        )

    @property
    def too_long(self) -> str:
        return f"shorter than the run ({self.total_steps // self.steps_per_unit} {self.unit}s)"

    @property
    def steps_per_unit(self) -> int:
        return self.steps_per_epoch if self.unit == "epoch" else 1

    def steps(self, value: float, key: str, minimum: int = 1) -> int:
        """``value`` (in ``unit``) as a whole number of steps, at least ``minimum``."""
        steps = round(value * self.steps_per_unit)
        allowed = f"at least {minimum} step(s) (1 {self.unit} = {self.steps_per_unit} steps)"
        require(steps >= minimum, key, allowed, value)
        return steps

    def units(self, t: int) -> float:
        """Iteration t measured in ``unit``."""
        return t / self.steps_per_unit

    @property
    def warmup_steps(self) -> int:
        return round(self.warmup * self.steps_per_unit)

    @property
    def remaining(self) -> int:
        """Steps left for the schedule after the warm-up (at least one)."""
        return max(self.total_steps - self.warmup_steps, 1)

    def warmup_factor(self, t: int, peak: float) -> float:
        """The warm-up factor peak * (t+1)/T', for t < T'."""
        return peak * (t + 1) / self.warmup_steps

    def with_warmup(self, schedule: Schedule) -> Schedule:
        """Linear warm-up to the schedule's first factor, then the schedule delayed by T' steps."""
        warmup, peak = self.warmup_steps, schedule(0)
        if warmup == 0:
            return schedule
        return lambda t: self.warmup_factor(t, peak) if t < warmup else schedule(t - warmup)


def schedule(shape: Callable[..., Schedule]) -> Callable[..., Schedule]:
    """Turn ``shape(timeline, **hyperparameters)`` into a factory over the run, with warm-up.

    The factory's signature is ``(total_steps, steps_per_epoch, unit="epoch", warmup=0.0, *,
    **hyperparameters)``: the runner supplies the first two, the config the rest.
    """

    @functools.wraps(shape)
    def factory(
        total_steps: int,
        steps_per_epoch: int,
        unit: Unit = "epoch",
        warmup: float = 0.0,
        **hyperparameters: Any,
    ) -> Schedule:
        timeline = Timeline(total_steps, steps_per_epoch, unit, warmup)
        return timeline.with_warmup(shape(timeline, **hyperparameters))

    own = list(inspect.signature(factory, follow_wrapped=False).parameters.values())[:4]
    hyper = list(inspect.signature(shape).parameters.values())[1:]
    factory.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [*own, *(p.replace(kind=p.KEYWORD_ONLY) for p in hyper)], return_annotation=Schedule
    )
    return factory


def cosine_anneal(start: float, end: float, fraction: float) -> float:
    """Half a cosine from ``start`` (fraction 0) to ``end`` (fraction 1)."""
    return end + (start - end) / 2 * (1 + math.cos(math.pi * fraction))


def linear_anneal(start: float, end: float, fraction: float) -> float:
    """A straight line from ``start`` (fraction 0) to ``end`` (fraction 1)."""
    return (end - start) * fraction + start


@schedule
def constant(timeline: Timeline) -> Schedule:
    """Constant learning rate: alpha_t = alpha_0."""
    return lambda t: 1.0


@schedule
def step(
    timeline: Timeline,
    milestones: Sequence[float] = (),
    gamma: float = 0.1,
    factors: Sequence[float] | None = None,
    step_size: float | None = None,
) -> Schedule:
    """Piecewise-constant (step) decay: alpha_t = alpha_0 * prod of beta_i over milestones T_i <= t.

    ``factors`` gives each milestone its own beta_i (default: ``gamma`` at every milestone, as
    torch's MultiStepLR). With ``step_size`` instead of milestones the rate is multiplied by
    ``gamma`` every ``step_size`` units, as torch's StepLR.
    """
    require_positive(gamma=gamma)
    if step_size is not None:
        require(not milestones, "step_size", "given without milestones (set milestones=[])", step_size)
        size = timeline.steps(step_size, "step_size")
        return lambda t: gamma ** (t // size)
    ends = [timeline.steps(m, "milestones") for m in milestones]
    require(all(b > a for a, b in pairwise(ends)), "milestones", "strictly increasing", list(milestones))
    factors = [gamma] * len(ends) if factors is None else list(factors)
    require(len(factors) == len(ends), "factors", f"one factor per milestone ({len(ends)})", factors)
    levels = list(accumulate(factors, lambda level, beta: level * beta, initial=1.0))
    return lambda t: levels[bisect_right(ends, t)]


@schedule
def inverse_time(timeline: Timeline, decay_rate: float = 0.5) -> Schedule:
    """Inverse time decay: alpha_t = alpha_0 / (1 + beta * t), beta = ``decay_rate`` per unit."""
    require_nonnegative(decay_rate=decay_rate)
    return lambda t: 1.0 / (1 + decay_rate * timeline.units(t))


@schedule
def exponential(timeline: Timeline, gamma: float = 0.9) -> Schedule:
    """Exponential decay: alpha_t = alpha_0 * beta^t, beta = ``gamma`` per unit (torch's ExponentialLR)."""
    require_positive(gamma=gamma)
    return lambda t: gamma ** timeline.units(t)


@schedule
def natural_exp(timeline: Timeline, decay_rate: float = 0.1) -> Schedule:
    """Natural exponential decay: alpha_t = alpha_0 * exp(-beta * t), beta = ``decay_rate`` per unit."""
    require_nonnegative(decay_rate=decay_rate)
    return lambda t: math.exp(-decay_rate * timeline.units(t))


@schedule
def polynomial(timeline: Timeline, total_iters: float | None = None, power: float = 1.0) -> Schedule:
    """Polynomial decay (torch's PolynomialLR; beyond the chapter): alpha_t = alpha_0 * (1 - t/T)^power.

    T = ``total_iters`` (default: the rest of the run); the rate is 0 from t = T on, and ``power`` 1
    is a linear decay to zero.
    """
    require_nonnegative(power=power)
    period = timeline.remaining if total_iters is None else timeline.steps(total_iters, "total_iters")
    return lambda t: (1.0 - min(t, period) / period) ** power


@schedule
def cosine(timeline: Timeline, T_max: float | None = None, min_factor: float = 0.0) -> Schedule:
    """Cosine decay: alpha_t = alpha_min + (alpha_0 - alpha_min)/2 * (1 + cos(pi * t/T)).

    T = ``T_max`` (default: the rest of the run), alpha_min = ``min_factor`` * alpha_0. Unlike
    torch's CosineAnnealingLR, whose closed form climbs back after T_max, the rate stays at
    alpha_min from t = T on.
    """
    require_nonnegative(min_factor=min_factor)
    period = timeline.remaining if T_max is None else timeline.steps(T_max, "T_max")
    return lambda t: cosine_anneal(1.0, min_factor, min(t, period) / period)


@schedule
def cyclic(
    timeline: Timeline,
    step_size_up: float = 2.0,
    div_factor: float = 10.0,
    mode: Literal["triangular", "triangular2"] = "triangular",
) -> Schedule:
    """Cyclic (triangular) learning rate between alpha_min = alpha_0/``div_factor`` and alpha_0.

    With half-cycle dT = ``step_size_up``: m = floor(1 + t/(2 dT)), b = |t/dT - 2m + 1|,
    alpha_t = alpha_min + (alpha_0 - alpha_min) * max(0, 1 - b) (the chapter's "max(-, 1-b)" is a
    typo), times 1/2^(m-1) in mode ``triangular2`` (the amplitude halves every cycle). torch's
    CyclicLR names alpha_min ``base_lr`` and alpha_0 ``max_lr``; here the optimizer's lr is the
    peak and ``div_factor`` sets the floor, as in OneCycleLR.
    """
    require(div_factor >= 1, "div_factor", ">= 1", div_factor)
    require_choice("mode", mode, ("triangular", "triangular2"))
    half = timeline.steps(step_size_up, "step_size_up")
    low = 1.0 / div_factor
    decay = 0.5 if mode == "triangular2" else 1.0

    def factor(t: int) -> float:
        cycle = math.floor(1 + t / (2 * half))
        distance = abs(t / half - 2 * cycle + 1)
        return low + (1.0 - low) * max(0.0, 1 - distance) * decay ** (cycle - 1)

    return factor


def _restart(t: int, period: int, growth: int) -> tuple[int, int, int]:
    """(restarts so far m, steps since the last restart, current period T_0 * T_mult^m) at step t."""
    if growth == 1:
        restarts, since = divmod(t, period)
        return restarts, since, period
    restarts = 0
    while t >= period:
        t, period, restarts = t - period, period * growth, restarts + 1
    return restarts, t, period


@schedule
def sgdr(
    timeline: Timeline, T_0: float = 5.0, T_mult: int = 1, min_factor: float = 0.0, gamma: float = 1.0
) -> Schedule:
    """SGDR, cosine annealing with warm restarts (torch's CosineAnnealingWarmRestarts).

    With T_cur the steps since restart m and T_m = T_0 * T_mult^m the length of cycle m:
    alpha_t = alpha_min + (alpha_max - alpha_min)/2 * (1 + cos(pi * T_cur/T_m)) (the chapter puts pi
    outside the cos, a typo), alpha_min = ``min_factor`` * alpha_0. The peak alpha_max = alpha_0 *
    gamma^m decays at each restart (gamma = 1, the default, is torch's schedule).
    """
    require_count(T_mult=T_mult)
    require_nonnegative(min_factor=min_factor)
    require(0 < gamma <= 1, "gamma", "in (0, 1]", gamma)
    first = timeline.steps(T_0, "T_0")

    def factor(t: int) -> float:
        restarts, since, period = _restart(t, first, T_mult)
        return cosine_anneal(gamma**restarts, min_factor, since / period)

    return factor


_ANNEAL = {"cos": cosine_anneal, "linear": linear_anneal}


@schedule
def onecycle(
    timeline: Timeline,
    pct_start: float = 0.3,
    anneal_strategy: Literal["cos", "linear"] = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
) -> Schedule:
    """The 1cycle policy (torch's OneCycleLR; beyond the chapter): warm up, then anneal far below.

    The rate anneals from alpha_0/``div_factor`` up to alpha_0 over the first ``pct_start`` of the
    run, then down to alpha_0/(div_factor * ``final_div_factor``) at its end. With ``three_phase``
    it comes back to alpha_0/div_factor symmetrically before the final descent. The optimizer's lr
    is torch's ``max_lr``. Phases are laid out as torch lays them out, so a run too short for them
    (a debug run) still works; where torch divides by an empty phase, it ends that phase instead.
    """
    require(0 < pct_start < 1, "pct_start", "in (0, 1)", pct_start)
    require_choice("anneal_strategy", anneal_strategy, tuple(_ANNEAL))
    require(div_factor >= 1, "div_factor", ">= 1", div_factor)
    require(final_div_factor >= 1, "final_div_factor", ">= 1", final_div_factor)
    total = timeline.remaining
    initial = 1.0 / div_factor
    final = initial / final_div_factor
    if three_phase:
        ends = [pct_start * total - 1, 2 * pct_start * total - 2, total - 1]
        levels = [initial, 1.0, initial, final]
    else:
        ends, levels = [pct_start * total - 1, total - 1], [initial, 1.0, final]
    starts = [0.0, *ends[:-1]]
    anneal = _ANNEAL[anneal_strategy]

    def factor(t: int) -> float:
        t = min(t, total - 1)
        phase = next((i for i, end in enumerate(ends) if t <= end), len(ends) - 1)
        length = ends[phase] - starts[phase]
        return anneal(levels[phase], levels[phase + 1], (t - starts[phase]) / length if length > 0 else 1.0)

    return factor


class ReduceLROnPlateau(Watcher):
    """Reduce the rate when a validation metric stops improving (torch's ReduceLROnPlateau).

    Not a function of t alone: after every validation (:meth:`on_validation`) it reads ``monitor``
    (val_loss, val_acc, ...). When the metric has not improved (by ``threshold``, relative or
    absolute) for more than ``patience`` validations, the factor is multiplied by ``factor`` (not
    below ``min_factor``; torch's ``min_lr`` is ``min_factor`` times the base rate), then
    ``cooldown`` validations pass before counting again. ``mode`` follows from the monitor
    (accuracies are maximized, losses minimized). The factor and the counters are saved with
    :meth:`state_dict`. Beyond the chapter.
    """

    def __init__(
        self,
        total_steps: int,
        steps_per_epoch: int,
        unit: Unit = "epoch",
        warmup: float = 0.0,
        *,
        monitor: str = "val_loss",
        mode: Literal["min", "max"] | None = None,
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: Literal["rel", "abs"] = "rel",
        cooldown: int = 0,
        min_factor: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        self.timeline = Timeline(total_steps, steps_per_epoch, unit, warmup)
        self.monitor, self.mode = monitor, metric_mode(monitor, mode)
        require(0 < factor < 1, "factor", "in (0, 1)", factor)
        require_count(0, patience=patience, cooldown=cooldown)
        require_nonnegative(threshold=threshold, min_factor=min_factor, eps=eps)
        require_choice("threshold_mode", threshold_mode, ("rel", "abs"))
        self.factor, self.patience, self.threshold = factor, patience, threshold
        self.threshold_mode, self.cooldown, self.min_factor, self.eps = (
            threshold_mode,
            cooldown,
            min_factor,
            eps,
        )
        self.scale, self.best = 1.0, math.inf if self.mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = 0

    def __call__(self, t: int) -> float:
        return self.timeline.warmup_factor(t, self.scale) if t < self.timeline.warmup_steps else self.scale

    def monitored(self) -> tuple[str, ...]:
        return (self.monitor,)

    def improves(self, metric: float) -> bool:
        """Whether ``metric`` beats the best so far by more than the threshold (torch's rule)."""
        sign = -1.0 if self.mode == "min" else 1.0
        shift = sign * self.threshold
        bar = self.best * (1 + shift) if self.threshold_mode == "rel" else self.best + shift
        return sign * (metric - bar) > 0

    def on_validation(self, metrics: Mapping[str, float]) -> bool:
        """Record one validation's ``monitor`` value and lower the factor if it has plateaued."""
        metric = metrics[self.monitor]
        if self.improves(metric):
            self.best, self.num_bad_epochs = metric, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            reduced = max(self.scale * self.factor, self.min_factor)
            if self.scale - reduced > self.eps:
                self.scale = reduced
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        return False

    def state_dict(self) -> dict[str, float]:
        return {key: getattr(self, key) for key in ("scale", "best", "num_bad_epochs", "cooldown_counter")}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        for key, value in state.items():
            setattr(self, key, value)
