"""Schemas of the whitening options of the ``preprocess`` group (netopt.data.whiten)."""

from dataclasses import dataclass

from netopt.schema import bounded, register


@dataclass
class PCAWhitenConfig:
    _target_: str = "netopt.data.whiten.PCAWhiten"
    eps: float = bounded(1e-2, ge=0.0)  # added to every eigenvalue


@dataclass
class ZCAWhitenConfig:
    _target_: str = "netopt.data.whiten.ZCAWhiten"
    eps: float = bounded(1e-2, ge=0.0)


register("preprocess", "pca_whiten", PCAWhitenConfig)
register("preprocess", "zca_whiten", ZCAWhitenConfig)
