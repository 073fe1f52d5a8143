"""Learning-rate schedules: pure functions ``lr_at(t) -> float`` of the 0-based iteration t.

Every schedule is a factory. Its hyperparameters come from ``conf/scheduler/<name>.yaml``
(``_partial_: true``); the training loop supplies the run:

    lr_at = instantiate(cfg.scheduler)(base_lr=0.1, total_steps=1000, steps_per_epoch=100)

``base_lr`` is the optimizer's learning rate, alpha_0 in SPEC.md section 3. Durations (periods,
milestones, cycle lengths, warm-up) are given in ``unit`` ("epoch" or "step") and converted to whole
steps with ``steps_per_epoch``; decay rates are per unit.

Warm-up (any schedule): for t < T' the rate grows linearly, alpha_t = alpha_0 * (t+1)/T' (the
chapter writes t/T', which starts at zero), then the schedule runs on the remaining steps as if
they were the whole run.
"""

from collections.abc import Callable
from dataclasses import dataclass

from netopt.errors import UserError

Schedule = Callable[[int], float]


@dataclass(frozen=True)
class Run:
    """The run a schedule is laid over: its length, and how to turn config durations into steps."""

    total_steps: int
    steps_per_epoch: int
    unit: str = "epoch"
    warmup: float = 0.0

    def steps(self, value: float, key: str, minimum: int = 1) -> int:
        """``value`` (in ``unit``) as a whole number of steps; at least ``minimum``."""
        steps = round(value * self.steps_per_unit)
        if steps < minimum:
            raise UserError(
                f"scheduler.{key}={value}: must be at least {minimum} step(s) "
                f"(1 {self.unit} = {self.steps_per_unit} steps)"
            )
        return steps

    @property
    def steps_per_unit(self) -> int:
        return self.steps_per_epoch if self.unit == "epoch" else 1

    @property
    def warmup_steps(self) -> int:
        return self.steps(self.warmup, "warmup", minimum=0)

    @property
    def remaining(self) -> int:
        """Steps left for the schedule after the warm-up."""
        return max(self.total_steps - self.warmup_steps, 1)

    def warmup_lr(self, t: int, peak: float) -> float:
        """The warm-up rate peak * (t+1)/T' for t < T'."""
        return peak * (t + 1) / self.warmup_steps

    def with_warmup(self, schedule: Schedule) -> Schedule:
        """Linear warm-up to the schedule's first rate, then the schedule shifted by T' steps."""
        warmup, peak = self.warmup_steps, schedule(0)
        if warmup == 0:
            return schedule
        return lambda t: self.warmup_lr(t, peak) if t < warmup else schedule(t - warmup)


def constant(
    base_lr: float, total_steps: int, steps_per_epoch: int, unit: str = "epoch", warmup: float = 0.0
) -> Schedule:
    """Constant learning rate: alpha_t = alpha_0 (after the optional warm-up)."""
    run = Run(total_steps, steps_per_epoch, unit, warmup)
    return run.with_warmup(lambda t: base_lr)
