"""Schema of the ``augmentation`` group: one dataclass for every preset of ``Augment``.

Every preset builds the same class, so operations combine from the command line, e.g.
``augmentation=rotate augmentation.noise_p=0.5 augmentation.noise_std=0.1``.
"""

from dataclasses import dataclass

from netopt.schema import bounded, register


@dataclass
class AugmentationConfig:
    _target_: str = "netopt.data.augment.Augment"
    flip_p: float = bounded(0.0, ge=0.0, le=1.0)  # horizontal flip
    rotate_p: float = bounded(0.0, ge=0.0, le=1.0)
    degrees: float = bounded(0.0, ge=0.0, le=180.0)  # angle ~ U(-degrees, degrees)
    scale_p: float = bounded(0.0, ge=0.0, le=1.0)
    scale: list[float] = bounded([1.0, 1.0], gt=0.0)  # factor ~ U(scale[0], scale[1])
    translate_p: float = bounded(0.0, ge=0.0, le=1.0)
    translate: float = bounded(0.0, ge=0.0, le=1.0)  # shift ~ U(-translate, translate) * image size, per axis
    noise_p: float = bounded(0.0, ge=0.0, le=1.0)
    noise_mean: float = 0.0
    noise_std: float = bounded(0.0, ge=0.0)


for _name in ("none", "flip", "rotate", "scale", "translate", "noise", "standard"):
    register("augmentation", _name, AugmentationConfig)
