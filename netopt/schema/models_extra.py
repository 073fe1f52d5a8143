"""Schemas of the ``model`` options resnet and rnn (netopt.models.resnet, netopt.models.rnn)."""

from dataclasses import dataclass

from netopt.schema import bounded, register
from netopt.schema.model import ACTIVATION_NAMES


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


register("model", "resnet", ResNetConfig)
register("model", "rnn", RNNConfig)
