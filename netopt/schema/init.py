"""Schemas of the ``init`` group: how every parameter of the model is initialized (netopt.init)."""

from dataclasses import dataclass
from typing import Any

from netopt.schema import bounded, register


@dataclass
class _InitConfig:
    bias: float = 0.0


@dataclass
class _ScaledInitConfig(_InitConfig):
    gain: float | None = bounded(None, gt=0.0)  # None: the gain of model.activation


@dataclass
class GaussianConfig(_InitConfig):
    _target_: str = "netopt.init.Gaussian"
    std: float = bounded(0.01, gt=0.0)


@dataclass
class UniformConfig(_InitConfig):
    _target_: str = "netopt.init.Uniform"
    bound: float = bounded(0.05, gt=0.0)


@dataclass
class ConstantConfig(_InitConfig):
    _target_: str = "netopt.init.Constant"
    value: float = 0.0


@dataclass
class XavierNormalConfig(_ScaledInitConfig):
    _target_: str = "netopt.init.XavierNormal"


@dataclass
class XavierUniformConfig(_ScaledInitConfig):
    _target_: str = "netopt.init.XavierUniform"


@dataclass
class HeNormalConfig(_ScaledInitConfig):
    _target_: str = "netopt.init.HeNormal"
    mode: str = bounded("fan_in", choices=("fan_in", "fan_out"))


@dataclass
class HeUniformConfig(HeNormalConfig):
    _target_: str = "netopt.init.HeUniform"


@dataclass
class OrthogonalConfig(_ScaledInitConfig):
    _target_: str = "netopt.init.Orthogonal"


@dataclass
class PretrainedConfig:
    _target_: str = "netopt.init.Pretrained"
    path: str = "???"
    # initializes what the checkpoint lacks (e.g. a new classifier head)
    fallback: Any = bounded({"_target_": "netopt.init.HeUniform"})


for _name, _node in {
    "gaussian": GaussianConfig,
    "uniform": UniformConfig,
    "constant": ConstantConfig,
    "xavier_normal": XavierNormalConfig,
    "xavier_uniform": XavierUniformConfig,
    "he_normal": HeNormalConfig,
    "he_uniform": HeUniformConfig,
    "orthogonal": OrthogonalConfig,
    "pretrained": PretrainedConfig,
}.items():
    register("init", _name, _node)
