"""Schemas of the ``norm`` group: which normalization the models put where (netopt.nn.norm)."""

from dataclasses import dataclass

from netopt.schema import bounded, register


@dataclass
class NoneConfig:
    _target_: str = "netopt.nn.norm.Normalization"


@dataclass
class BatchConfig:
    _target_: str = "netopt.nn.norm.BatchNormalization"
    eps: float = bounded(1e-5, gt=0.0)
    momentum: float = bounded(0.1, gt=0.0, le=1.0)


@dataclass
class LayerConfig:
    _target_: str = "netopt.nn.norm.LayerNormalization"
    eps: float = bounded(1e-5, gt=0.0)


@dataclass
class GroupConfig:
    _target_: str = "netopt.nn.norm.GroupNormalization"
    num_groups: int = bounded(8, ge=1)
    eps: float = bounded(1e-5, gt=0.0)


@dataclass
class WeightConfig:
    _target_: str = "netopt.nn.norm.WeightNormalization"


@dataclass
class LocalResponseConfig:
    _target_: str = "netopt.nn.norm.LocalResponseNormalization"
    size: int = bounded(5, ge=1)
    alpha: float = bounded(1e-4, ge=0.0)
    beta: float = bounded(0.75, ge=0.0)
    k: float = bounded(1.0, gt=0.0)


for _name, _node in {
    "none": NoneConfig,
    "batch": BatchConfig,
    "layer": LayerConfig,
    "group": GroupConfig,
    "weight": WeightConfig,
    "lrn": LocalResponseConfig,
}.items():
    register("norm", _name, _node)
