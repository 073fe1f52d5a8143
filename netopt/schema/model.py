"""Schemas of the ``model`` group (netopt.models): mlp, cnn, resnet and rnn."""

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


@dataclass
class ResNetConfig:
    _target_: str = "netopt.models.resnet.ResNet"
    widths: list[int] = bounded([16, 32, 64], ge=1)  # channels of each stage
    blocks: int = bounded(2, ge=1)  # residual blocks per stage
    activation: str = bounded("relu", choices=ACTIVATION_NAMES)


@dataclass
class RNNConfig:
    _target_: str = "netopt.models.rnn.RNN"
    hidden: int = bounded(128, ge=1)
    layers: int = bounded(1, ge=1)  # stacked LSTM layers
    activation: str = bounded("tanh", choices=ACTIVATION_NAMES)  # the init gain only


register("model", "mlp", MLPConfig)
register("model", "cnn", CNNConfig)
register("model", "resnet", ResNetConfig)
register("model", "rnn", RNNConfig)
