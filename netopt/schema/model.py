"""Schemas of the ``model`` group: the fields of mlp and cnn (netopt.models)."""

from dataclasses import dataclass

from netopt.models import ACTIVATIONS
from netopt.schema import bounded, register

ACTIVATION_NAMES = tuple(ACTIVATIONS)


@dataclass
class MLPConfig:
    _target_: str = "netopt.models.mlp.MLP"
    depth: int = bounded(2, ge=0)  # hidden layers
    width: int = bounded(128, ge=1)
    activation: str = bounded("relu", choices=ACTIVATION_NAMES)


@dataclass
class CNNConfig:
    _target_: str = "netopt.models.cnn.CNN"
    channels: list[int] = bounded([32, 64], ge=1)  # one conv block each
    hidden: int = bounded(128, ge=1)
    activation: str = bounded("relu", choices=ACTIVATION_NAMES)


register("model", "mlp", MLPConfig)
register("model", "cnn", CNNConfig)
