"""Schemas of the ``optimizer`` group: torch's hyperparameter names, netopt's default lrs.

Every optimizer is built partially (``_partial_: true``) and called with the model's param groups.
``sam`` wraps a base optimizer chosen from the ``optimizer/base`` group (``optimizer/base=adam``).
"""

from dataclasses import dataclass
from typing import Any

from omegaconf import MISSING

from netopt.schema import bounded, register

BETA = {"ge": 0.0, "lt": 1.0}


@dataclass
class SGDConfig:
    _target_: str = "netopt.optim.SGD"
    _partial_: bool = True
    lr: float = bounded(0.1, ge=0.0)
    momentum: float = bounded(0.0, ge=0.0)
    dampening: float = bounded(0.0, ge=0.0, le=1.0)
    weight_decay: float = bounded(0.0, ge=0.0)
    nesterov: bool = False
    maximize: bool = False
    foreach: bool | None = None


@dataclass
class AdagradConfig:
    _target_: str = "netopt.optim.Adagrad"
    _partial_: bool = True
    lr: float = bounded(0.05, ge=0.0)
    lr_decay: float = bounded(0.0, ge=0.0)
    weight_decay: float = bounded(0.0, ge=0.0)
    initial_accumulator_value: float = bounded(0.0, ge=0.0)
    eps: float = bounded(1e-10, ge=0.0)
    maximize: bool = False
    foreach: bool | None = None


@dataclass
class RMSpropConfig:
    _target_: str = "netopt.optim.RMSprop"
    _partial_: bool = True
    lr: float = bounded(1e-3, ge=0.0)
    alpha: float = bounded(0.99, **BETA)
    eps: float = bounded(1e-8, ge=0.0)
    weight_decay: float = bounded(0.0, ge=0.0)
    momentum: float = bounded(0.0, ge=0.0)
    centered: bool = False
    maximize: bool = False
    foreach: bool | None = None


@dataclass
class AdadeltaConfig:
    _target_: str = "netopt.optim.Adadelta"
    _partial_: bool = True
    lr: float = bounded(1.0, ge=0.0)
    rho: float = bounded(0.9, ge=0.0, le=1.0)
    eps: float = bounded(1e-6, ge=0.0)
    weight_decay: float = bounded(0.0, ge=0.0)
    maximize: bool = False
    foreach: bool | None = None


@dataclass
class AdamConfig:
    _target_: str = "netopt.optim.Adam"
    _partial_: bool = True
    lr: float = bounded(1e-3, ge=0.0)
    betas: list[float] = bounded([0.9, 0.999], **BETA)
    eps: float = bounded(1e-8, ge=0.0)
    weight_decay: float = bounded(0.0, ge=0.0)
    amsgrad: bool = False
    maximize: bool = False
    foreach: bool | None = None


@dataclass
class AdamWConfig(AdamConfig):
    _target_: str = "netopt.optim.AdamW"
    weight_decay: float = bounded(1e-2, ge=0.0)


@dataclass
class NAdamConfig:
    _target_: str = "netopt.optim.NAdam"
    _partial_: bool = True
    lr: float = bounded(2e-3, ge=0.0)
    betas: list[float] = bounded([0.9, 0.999], **BETA)
    eps: float = bounded(1e-8, ge=0.0)
    weight_decay: float = bounded(0.0, ge=0.0)
    momentum_decay: float = bounded(4e-3, ge=0.0)
    decoupled_weight_decay: bool = False
    maximize: bool = False
    foreach: bool | None = None


@dataclass
class LionConfig:
    _target_: str = "netopt.optim.Lion"
    _partial_: bool = True
    lr: float = bounded(3e-4, ge=0.0)
    betas: list[float] = bounded([0.9, 0.99], **BETA)
    weight_decay: float = bounded(0.0, ge=0.0)
    maximize: bool = False
    foreach: bool | None = None


@dataclass
class SAMConfig:
    _target_: str = "netopt.optim.SAM"
    _partial_: bool = True
    rho: float = bounded(0.05, ge=0.0)
    adaptive: bool = False
    base: Any = MISSING  # an optimizer config from the optimizer/base group


OPTIONS = {
    "sgd": SGDConfig,
    "momentum": SGDConfig,
    "nesterov": SGDConfig,
    "adagrad": AdagradConfig,
    "rmsprop": RMSpropConfig,
    "adadelta": AdadeltaConfig,
    "adam": AdamConfig,
    "adamw": AdamWConfig,
    "nadam": NAdamConfig,
    "lion": LionConfig,
    "sam": SAMConfig,
}
for _name, _schema in OPTIONS.items():
    register("optimizer", _name, _schema)
