"""Schemas of the ``optimizer`` group: torch's hyperparameter names, netopt's default lrs.

Every optimizer is built partially (``_partial_: true``) and called with the model's param groups.
"""

from dataclasses import dataclass

from netopt.schema import bounded, register


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


for _name in ("sgd", "momentum", "nesterov"):
    register("optimizer", _name, SGDConfig)
