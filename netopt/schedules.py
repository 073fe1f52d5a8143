"""Learning-rate schedules (SPEC.md section 3): functions ``lr_at(t) -> float`` of the 0-based step t.

Every schedule is a factory. Its hyperparameters come from ``conf/scheduler/<name>.yaml``
(``_partial_: true``); the training loop supplies the run:

    lr_at = instantiate(cfg.scheduler)(base_lr=0.1, total_steps=1000, steps_per_epoch=100)

``base_lr`` is the optimizer's learning rate: alpha_0 of the chapter, and the largest rate every
schedule reaches (cyclic and onecycle included: there it plays torch's ``max_lr``). Durations
(periods, milestones, cycle lengths, warm-up) are given in ``unit`` ("epoch" or "step") and
rounded to whole steps with ``steps_per_epoch``; decay rates are per unit, applied every step
(an exponential schedule with gamma per epoch decays smoothly, reaching gamma**k after k epochs).

Warm-up (any schedule, ``warmup`` > 0): for t < T' the rate grows linearly,
alpha_t = alpha * (t+1)/T' (the chapter writes t/T', which starts at zero), where alpha is the
schedule's first rate (alpha_0 for every decay); then the schedule runs on the remaining
T - T' steps as if they were the whole run.

ReduceLROnPlateau is the one schedule with state: it also has ``observe(metric)`` (called after
each validation with the metric named by its ``monitor``) and ``state_dict``/``load_state_dict``.

The hyperparameters carry torch's names; PyTorch's ``lr_scheduler`` module is the test oracle.
"""

import functools
import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate, pairwise
from typing import Any

from netopt.errors import UserError

Schedule = Callable[[int], float]


@dataclass(frozen=True)
class Run:
    """The run a schedule is laid over: its length, and how config durations become steps."""

    total_steps: int
    steps_per_epoch: int
    unit: str = "epoch"
    warmup: float = 0.0

    @property
    def steps_per_unit(self) -> int:
        return self.steps_per_epoch if self.unit == "epoch" else 1

    def steps(self, value: float, key: str, minimum: int = 1) -> int:
        """``value`` (in ``unit``) as a whole number of steps, at least ``minimum``."""
        steps = round(value * self.steps_per_unit)
        if steps < minimum:
            raise UserError(
                f"scheduler.{key}={value}: must be at least {minimum} step(s) "
                f"(1 {self.unit} = {self.steps_per_unit} steps)"
            )
        return steps

    def units(self, t: int) -> float:
        """Iteration t measured in ``unit``."""
        return t / self.steps_per_unit

    @property
    def warmup_steps(self) -> int:
        return self.steps(self.warmup, "warmup", minimum=0)

    @property
    def remaining(self) -> int:
        """Steps left for the schedule after the warm-up (at least one)."""
        return max(self.total_steps - self.warmup_steps, 1)

    def warmup_lr(self, t: int, peak: float) -> float:
        """The warm-up rate peak * (t+1)/T', for t < T'."""
        return peak * (t + 1) / self.warmup_steps

    def with_warmup(self, schedule: Schedule) -> Schedule:
        """Linear warm-up to the schedule's first rate, then the schedule delayed by T' steps."""
        warmup, peak = self.warmup_steps, schedule(0)
        if warmup == 0:
            return schedule
        return lambda t: self.warmup_lr(t, peak) if t < warmup else schedule(t - warmup)


def schedule(shape: Callable[..., Schedule]) -> Callable[..., Schedule]:
    """Turn ``shape(base_lr, run, **hyperparameters)`` into a factory over the run, with warm-up.

    The factory's signature is ``(base_lr, total_steps, steps_per_epoch, unit="epoch", warmup=0.0,
    **hyperparameters)``.
    """

    @functools.wraps(shape)
    def factory(
        base_lr: float,
        total_steps: int,
        steps_per_epoch: int,
        unit: str = "epoch",
        warmup: float = 0.0,
        **hyperparameters: Any,
    ) -> Schedule:
        run = Run(total_steps, steps_per_epoch, unit, warmup)
        return run.with_warmup(shape(base_lr, run, **hyperparameters))

    return factory


def cosine_anneal(start: float, end: float, fraction: float) -> float:
    """Half a cosine from ``start`` (fraction 0) to ``end`` (fraction 1)."""
    return end + (start - end) / 2 * (1 + math.cos(math.pi * fraction))


def linear_anneal(start: float, end: float, fraction: float) -> float:
    """A straight line from ``start`` (fraction 0) to ``end`` (fraction 1)."""
    return (end - start) * fraction + start


@schedule
def constant(base_lr: float, run: Run) -> Schedule:
    """Constant learning rate: alpha_t = alpha_0."""
    return lambda t: base_lr


@schedule
def step(
    base_lr: float,
    run: Run,
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
    if step_size is not None:
        if milestones:
            raise UserError("scheduler.step_size: give either milestones or step_size, not both")
        size = run.steps(step_size, "step_size")
        return lambda t: base_lr * gamma ** (t // size)
    ends = [run.steps(m, "milestones") for m in milestones]
    if any(b <= a for a, b in pairwise(ends)):
        raise UserError(f"scheduler.milestones={list(milestones)}: must be strictly increasing")
    factors = [gamma] * len(ends) if factors is None else list(factors)
    if len(factors) != len(ends):
        raise UserError(f"scheduler.factors: must give one factor per milestone ({len(ends)})")
    levels = list(accumulate(factors, lambda lr, beta: lr * beta, initial=base_lr))
    return lambda t: levels[bisect_right(ends, t)]


@schedule
def inverse_time(base_lr: float, run: Run, decay_rate: float) -> Schedule:
    """Inverse time decay: alpha_t = alpha_0 / (1 + beta * t), beta = ``decay_rate`` per unit."""
    return lambda t: base_lr / (1 + decay_rate * run.units(t))


@schedule
def exponential(base_lr: float, run: Run, gamma: float) -> Schedule:
    """Exponential decay: alpha_t = alpha_0 * beta^t, beta = ``gamma`` per unit (torch's ExponentialLR)."""
    return lambda t: base_lr * gamma ** run.units(t)


@schedule
def natural_exp(base_lr: float, run: Run, decay_rate: float) -> Schedule:
    """Natural exponential decay: alpha_t = alpha_0 * exp(-beta * t), beta = ``decay_rate`` per unit."""
    return lambda t: base_lr * math.exp(-decay_rate * run.units(t))


@schedule
def cosine(base_lr: float, run: Run, T_max: float | None = None, eta_min: float = 0.0) -> Schedule:
    """Cosine decay: alpha_t = eta_min + (alpha_0 - eta_min)/2 * (1 + cos(pi * t/T)).

    T = ``T_max`` (default: the rest of the run). Unlike torch's CosineAnnealingLR, whose closed
    form climbs back after T_max, the rate stays at ``eta_min`` from t = T on.
    """
    period = run.remaining if T_max is None else run.steps(T_max, "T_max")
    return lambda t: cosine_anneal(base_lr, eta_min, min(t, period) / period)


@schedule
def cyclic(
    base_lr: float, run: Run, step_size_up: float, div_factor: float, mode: str = "triangular"
) -> Schedule:
    """Cyclic (triangular) learning rate between alpha_min = alpha_0/``div_factor`` and alpha_0.

    With half-cycle dT = ``step_size_up``: m = floor(1 + t/(2 dT)), b = |t/dT - 2m + 1|,
    alpha_t = alpha_min + (alpha_0 - alpha_min) * max(0, 1 - b) (the chapter's "max(-, 1-b)" is a
    typo), times 1/2^(m-1) in mode ``triangular2`` (the amplitude halves every cycle). torch's
    CyclicLR names alpha_min ``base_lr`` and alpha_0 ``max_lr``; here the optimizer's lr is the
    peak and ``div_factor`` sets the floor, as in OneCycleLR.
    """
    half = run.steps(step_size_up, "step_size_up")
    low = base_lr / div_factor
    decay = 0.5 if mode == "triangular2" else 1.0

    def lr_at(t: int) -> float:
        cycle = math.floor(1 + t / (2 * half))
        distance = abs(t / half - 2 * cycle + 1)
        return low + (base_lr - low) * max(0.0, 1 - distance) * decay ** (cycle - 1)

    return lr_at


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
    base_lr: float,
    run: Run,
    T_0: float,
    T_mult: int = 1,
    eta_min: float = 0.0,
    gamma: float = 1.0,
) -> Schedule:
    """SGDR, cosine annealing with warm restarts (torch's CosineAnnealingWarmRestarts).

    With T_cur the steps since restart m and T_m = T_0 * T_mult^m the length of cycle m:
    alpha_t = eta_min + (alpha_max - eta_min)/2 * (1 + cos(pi * T_cur/T_m)) (the chapter puts pi
    outside the cos, a typo). The peak alpha_max = alpha_0 * gamma^m decays at each restart
    (gamma = 1, the default, is torch's schedule).
    """
    first = run.steps(T_0, "T_0")

    def lr_at(t: int) -> float:
        restarts, since, period = _restart(t, first, T_mult)
        return cosine_anneal(base_lr * gamma**restarts, eta_min, since / period)

    return lr_at


_ANNEAL = {"cos": cosine_anneal, "linear": linear_anneal}


@schedule
def onecycle(
    base_lr: float,
    run: Run,
    pct_start: float = 0.3,
    anneal_strategy: str = "cos",
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
    total = run.remaining
    initial = base_lr / div_factor
    final = initial / final_div_factor
    if three_phase:
        ends = [pct_start * total - 1, 2 * pct_start * total - 2, total - 1]
        levels = [initial, base_lr, initial, final]
    else:
        ends, levels = [pct_start * total - 1, total - 1], [initial, base_lr, final]
    starts = [0.0, *ends[:-1]]
    anneal = _ANNEAL[anneal_strategy]

    def lr_at(t: int) -> float:
        t = min(t, total - 1)
        phase = next((i for i, end in enumerate(ends) if t <= end), len(ends) - 1)
        length = ends[phase] - starts[phase]
        return anneal(levels[phase], levels[phase + 1], (t - starts[phase]) / length if length > 0 else 1.0)

    return lr_at


class ReduceLROnPlateau:
    """Reduce the rate when the validation metric stops improving (torch's ReduceLROnPlateau).

    Not a function of t alone: the loop calls :meth:`observe` with ``monitor`` (e.g. val_loss)
    after every validation. When the metric has not improved (by ``threshold``, relative or
    absolute) for more than ``patience`` validations, the rate is multiplied by ``factor`` (not
    below ``min_lr``), then ``cooldown`` validations pass before counting again. The rate and the
    counters are saved with :meth:`state_dict`. Beyond the chapter.
    """

    def __init__(
        self,
        base_lr: float,
        total_steps: int,
        steps_per_epoch: int,
        unit: str = "epoch",
        warmup: float = 0.0,
        monitor: str = "val_loss",
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        if (monitor, mode) in {("val_loss", "max"), ("val_acc", "min")}:
            raise UserError(f"scheduler.mode={mode}: {monitor} improves the other way")
        self.run = Run(total_steps, steps_per_epoch, unit, warmup)
        self.warmup_steps = self.run.warmup_steps
        self.monitor, self.mode, self.factor, self.patience = monitor, mode, factor, patience
        self.threshold, self.threshold_mode, self.cooldown = threshold, threshold_mode, cooldown
        self.min_lr, self.eps = min_lr, eps
        self.lr, self.best = base_lr, math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = 0

    def __call__(self, t: int) -> float:
        return self.run.warmup_lr(t, self.lr) if t < self.warmup_steps else self.lr

    def improves(self, metric: float) -> bool:
        """Whether ``metric`` beats the best so far by more than the threshold (torch's rule)."""
        sign = -1.0 if self.mode == "min" else 1.0
        shift = sign * self.threshold
        bar = self.best * (1 + shift) if self.threshold_mode == "rel" else self.best + shift
        return sign * (metric - bar) > 0

    def observe(self, metric: float) -> None:
        """Record one validation's ``monitor`` value and reduce the rate if it has plateaued."""
        if self.improves(metric):
            self.best, self.num_bad_epochs = metric, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            reduced = max(self.lr * self.factor, self.min_lr)
            if self.lr - reduced > self.eps:
                self.lr = reduced
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0

    def state_dict(self) -> dict[str, float]:
        return {key: getattr(self, key) for key in ("lr", "best", "num_bad_epochs", "cooldown_counter")}

    def load_state_dict(self, state: dict[str, float]) -> None:
        for key, value in state.items():
            setattr(self, key, value)
