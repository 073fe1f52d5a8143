"""Schemas of the ``preprocess`` group (netopt.data.preprocess)."""

from dataclasses import dataclass

from netopt.schema import bounded, register


@dataclass
class NoneConfig:
    _target_: str = "netopt.data.preprocess.Preprocess"


@dataclass
class MinMaxConfig:
    _target_: str = "netopt.data.preprocess.MinMax"


@dataclass
class StandardizeConfig:
    _target_: str = "netopt.data.preprocess.Standardize"
    eps: float = bounded(1e-8, ge=0.0)


register("preprocess", "none", NoneConfig)
register("preprocess", "minmax", MinMaxConfig)
register("preprocess", "standardize", StandardizeConfig)
