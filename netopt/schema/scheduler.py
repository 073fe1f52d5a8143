"""Schemas of the ``scheduler`` group: one dataclass per schedule in :mod:`netopt.schedules`."""

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


register("scheduler", "constant", ConstantConfig)
