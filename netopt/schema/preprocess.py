"""Schemas of the ``preprocess`` group (netopt.data.preprocess, netopt.data.whiten)."""

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


@dataclass
class PCAWhitenConfig:
    _target_: str = "netopt.data.whiten.PCAWhiten"
    eps: float = bounded(1e-2, ge=0.0)  # added to every eigenvalue


@dataclass
class ZCAWhitenConfig(PCAWhitenConfig):
    _target_: str = "netopt.data.whiten.ZCAWhiten"


register("preprocess", "none", NoneConfig)
register("preprocess", "minmax", MinMaxConfig)
register("preprocess", "standardize", StandardizeConfig)
register("preprocess", "pca_whiten", PCAWhitenConfig)
register("preprocess", "zca_whiten", ZCAWhitenConfig)
