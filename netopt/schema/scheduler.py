"""Schemas of the ``scheduler`` group: one dataclass per schedule in :mod:`netopt.schedules`.

Checks that involve several values (milestones increasing, a duration of at least one step) need
the run's length and are made when the schedule is built.
"""

from dataclasses import dataclass

from netopt.schema import bounded, register


@dataclass
class ScheduleConfig:
    """Fields every schedule has: the unit of its durations and the warm-up length."""

    _partial_: bool = True
    unit: str = bounded("epoch", choices=("epoch", "step"))
    warmup: float = bounded(0.0, ge=0.0)


@dataclass
class ConstantConfig(ScheduleConfig):
    _target_: str = "netopt.schedules.constant"


@dataclass
class StepConfig(ScheduleConfig):
    _target_: str = "netopt.schedules.step"
    milestones: list[float] = bounded([10.0, 15.0], gt=0.0)
    gamma: float = bounded(0.1, gt=0.0)
    factors: list[float] | None = bounded(None, gt=0.0)
    step_size: float | None = bounded(None, gt=0.0)


@dataclass
class StepLRConfig(StepConfig):
    """The step schedule every ``step_size`` units instead of at milestones (torch's StepLR)."""

    step_size: float | None = bounded(5.0, gt=0.0)
    gamma: float = bounded(0.5, gt=0.0)
    milestones: list[float] = bounded([], gt=0.0)


@dataclass
class InverseTimeConfig(ScheduleConfig):
    _target_: str = "netopt.schedules.inverse_time"
    decay_rate: float = bounded(0.5, ge=0.0)


@dataclass
class ExponentialConfig(ScheduleConfig):
    _target_: str = "netopt.schedules.exponential"
    gamma: float = bounded(0.9, gt=0.0)


@dataclass
class NaturalExpConfig(ScheduleConfig):
    _target_: str = "netopt.schedules.natural_exp"
    decay_rate: float = bounded(0.1, ge=0.0)


@dataclass
class CosineConfig(ScheduleConfig):
    _target_: str = "netopt.schedules.cosine"
    T_max: float | None = bounded(None, gt=0.0)
    eta_min: float = bounded(0.0, ge=0.0)


@dataclass
class CyclicConfig(ScheduleConfig):
    _target_: str = "netopt.schedules.cyclic"
    step_size_up: float = bounded(2.0, gt=0.0)
    div_factor: float = bounded(10.0, ge=1.0)
    mode: str = bounded("triangular", choices=("triangular", "triangular2"))


@dataclass
class SGDRConfig(ScheduleConfig):
    _target_: str = "netopt.schedules.sgdr"
    T_0: float = bounded(5.0, gt=0.0)
    T_mult: int = bounded(1, ge=1)
    eta_min: float = bounded(0.0, ge=0.0)
    gamma: float = bounded(1.0, gt=0.0, le=1.0)


@dataclass
class OneCycleConfig(ScheduleConfig):
    _target_: str = "netopt.schedules.onecycle"
    pct_start: float = bounded(0.3, gt=0.0, lt=1.0)
    anneal_strategy: str = bounded("cos", choices=("cos", "linear"))
    div_factor: float = bounded(25.0, ge=1.0)
    final_div_factor: float = bounded(1e4, ge=1.0)
    three_phase: bool = False


@dataclass
class PlateauConfig(ScheduleConfig):
    _target_: str = "netopt.schedules.ReduceLROnPlateau"
    monitor: str = bounded("val_loss", choices=("val_loss", "val_acc"))
    mode: str = bounded("min", choices=("min", "max"))
    factor: float = bounded(0.1, gt=0.0, lt=1.0)
    patience: int = bounded(3, ge=0)
    threshold: float = bounded(1e-4, ge=0.0)
    threshold_mode: str = bounded("rel", choices=("rel", "abs"))
    cooldown: int = bounded(0, ge=0)
    min_lr: float = bounded(0.0, ge=0.0)
    eps: float = bounded(1e-8, ge=0.0)


for _name, _schema in {
    "constant": ConstantConfig,
    "step": StepConfig,
    "steplr": StepLRConfig,
    "inverse_time": InverseTimeConfig,
    "exponential": ExponentialConfig,
    "natural_exp": NaturalExpConfig,
    "cosine": CosineConfig,
    "cyclic": CyclicConfig,
    "sgdr": SGDRConfig,
    "onecycle": OneCycleConfig,
    "plateau": PlateauConfig,
}.items():
    register("scheduler", _name, _schema)
