"""Schemas of the ``clip`` group: each option is a partial function ``clip(parameters) -> norm``
that clips the gradients in place and returns their pre-clip global norm."""

from dataclasses import dataclass

from netopt.schema import bounded, register


@dataclass
class NoClipConfig:
    _target_: str = "netopt.optim.grad_norm"
    _partial_: bool = True


@dataclass
class ValueClipConfig:
    _target_: str = "netopt.optim.clip_grad_value_"
    _partial_: bool = True
    clip_value: float | None = bounded(0.5, ge=0.0)
    interval: list[float] | None = None


@dataclass
class NormClipConfig:
    _target_: str = "netopt.optim.clip_grad_norm_"
    _partial_: bool = True
    max_norm: float = bounded(5.0, gt=0.0)
    norm_type: float = bounded(2.0, gt=0.0)
    error_if_nonfinite: bool = False
    foreach: bool | None = None


register("clip", "none", NoClipConfig)
register("clip", "value", ValueClipConfig)
register("clip", "norm", NormClipConfig)
