"""Data augmentation on whole batches: flip, rotation, scaling, translation, additive noise.

Every sample of a batch ``(N, C, H, W)`` gets its own random draw from the ``torch.Generator``
passed in, and the work stays on the batch's device as a handful of batched tensor ops:

- horizontal flip with probability ``flip_p``: ``x[..., j] -> x[..., W - 1 - j]``; with
  ``alternate_flips`` (airbench's alternating flips) the flips are not drawn per batch: a fixed
  ``flip_p`` fraction of the training images is flipped in epoch 0, and every epoch flips exactly
  the images the previous one did not (image i is flipped in epoch e iff ``m_i XOR (e mod 2)``,
  ``m_i ~ Bernoulli(flip_p)`` drawn once from the run's seed), so each image is seen both ways
  every two epochs (:meth:`Augment.epoch_inputs`, the training set as epoch e sees it);
- rotation by ``a ~ U(-degrees, degrees)`` (counter-clockwise as displayed), scaling by
  ``s ~ U(scale)`` and translation by ``t ~ U(-translate, translate) * (W, H)`` pixels, each
  with its own probability, composed into one affine map ``p_out = s R(a) p_in + t`` about the
  image centre and applied with a single bilinear resampling (zeros outside the image);
- additive Gaussian noise ``x + n, n ~ N(noise_mean, noise_std^2)`` with probability ``noise_p``.

The chapter (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7) lists these transformations
without fixing ranges; the presets of the ``augmentation`` group choose them. The loop applies
augmentation to training batches only.
"""

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from netopt.checks import require, require_length, require_nonnegative, require_probability


def affine_matrices(angle: Tensor, scale: Tensor, shift: Tensor, size: tuple[int, int]) -> Tensor:
    """The ``(N, 2, 3)`` matrices for ``F.affine_grid`` (``align_corners=False``) of ``p_out = s R p_in + t``.

    ``angle`` in degrees (counter-clockwise as displayed), ``scale`` > 0, ``shift = (tx, ty)`` in
    pixels (right, down); ``size = (H, W)``. The matrix maps output to input coordinates,
    ``p_in = R(-a) (p_out - t) / s``, rescaled to the normalized ``[-1, 1]`` coordinates of
    each axis so that non-square images rotate without shearing.
    """
    height, width = size
    radians = angle * (math.pi / 180.0)
    cos, sin = torch.cos(radians) / scale, torch.sin(radians) / scale
    tx, ty = shift.unbind(-1)
    return torch.stack(
        [
            torch.stack([cos, -sin * (height / width), -(cos * tx - sin * ty) * (2.0 / width)], -1),
            torch.stack([sin * (width / height), cos, -(sin * tx + cos * ty) * (2.0 / height)], -1),
        ],
        -2,
    )


def warp(x: Tensor, theta: Tensor) -> Tensor:
    """Resample every image of ``x`` through its affine matrix (bilinear, zeros outside)."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _random(
    draw: Callable[..., Tensor], shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None
) -> Tensor:
    """``draw`` (``torch.rand``/``torch.randn``) on the generator's device, moved to ``like``'s device."""
    device = generator.device if generator is not None else like.device
    return draw(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def _chosen(n: int, p: float, like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Which of ``n`` samples an operation applies to: a ``Bernoulli(p)`` draw each, shape ``(n, 1)``."""
    return _random(torch.rand, (n, 1), like, generator) < p


def _uniform(
    shape: tuple[int, int], p: float, low: float, high: float, neutral: float, like: Tensor,
    generator: torch.Generator | None,
) -> Tensor:  # fmt: skip
    """``U(low, high)`` for the samples (rows) chosen with probability ``p``, ``neutral`` for the others."""
    values = low + (high - low) * _random(torch.rand, shape, like, generator)
    return torch.where(_chosen(shape[0], p, like, generator), values, neutral)


class Augment:
    """Batched random augmentation, ``augment(x, generator) -> x`` (``augmentation`` config group).

    All probabilities default to 0, which makes this the identity (``augmentation=none``). Pass a
    generator on the batch's device so that the random draws are made there too.
    """

    def __init__(
        self,
        flip_p: float = 0.0,
        rotate_p: float = 0.0,
        degrees: float = 0.0,
        scale_p: float = 0.0,
        scale: Sequence[float] = (1.0, 1.0),
        translate_p: float = 0.0,
        translate: float = 0.0,
        noise_p: float = 0.0,
        noise_mean: float = 0.0,
        noise_std: float = 0.0,
        alternate_flips: bool = False,
    ) -> None:
        require_probability(
            flip_p=flip_p, rotate_p=rotate_p, scale_p=scale_p, translate_p=translate_p, noise_p=noise_p
        )
        require(0 <= degrees <= 180, "degrees", "in [0, 180]", degrees)
        require_length("scale", scale, 2)
        require(0 < scale[0] <= scale[1], "scale", "[low, high] with 0 < low <= high", list(scale))
        require_probability(translate=translate)
        require_nonnegative(noise_std=noise_std)
        self.flip_p, self.alternate_flips = flip_p, alternate_flips
        self._views: tuple[Tensor, Tensor, Tensor] | None = (
            None  # the training set, and as epochs 0, 1 see it
        )
        self.rotate_p, self.degrees = rotate_p, degrees
        self.scale_p, self.scale = scale_p, (scale[0], scale[1])
        self.translate_p, self.translate = translate_p, translate
        self.noise_p, self.noise_mean, self.noise_std = noise_p, noise_mean, noise_std

    @property
    def enabled(self) -> bool:
        """Whether any transformation can happen (else this is the identity)."""
        return max(self.flip_p, self.rotate_p, self.scale_p, self.translate_p, self.noise_p) > 0.0

    @property
    def affine(self) -> bool:
        return max(self.rotate_p, self.scale_p, self.translate_p) > 0.0

    def epoch_inputs(self, x: Tensor, epoch: int, generator: torch.Generator) -> Tensor:
        """The training inputs ``x`` as epoch ``epoch`` sees them: ``x`` itself, or with
        ``alternate_flips`` image i flipped iff ``m_i XOR (epoch mod 2)``. The mask comes from
        ``generator``'s seed, not its state, so a resumed run flips as the uninterrupted one; both
        views are kept, so an epoch pays nothing for its flips."""
        if not (self.alternate_flips and self.flip_p > 0.0):
            return x
        if self._views is None or self._views[0] is not x:
            seeded = torch.Generator().manual_seed(generator.initial_seed())
            mask = (torch.rand(x.shape[0], generator=seeded) < self.flip_p).to(x.device)
            even = torch.where(mask.view(-1, *[1] * (x.dim() - 1)), x.flip(-1), x)
            self._views = (x, even, even.flip(-1))
        return self._views[1 + epoch % 2]

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        n = x.shape[0]
        if self.flip_p > 0.0 and not self.alternate_flips:
            flipped = _chosen(n, self.flip_p, x, generator)
            x = torch.where(flipped.view(n, 1, 1, 1), x.flip(-1), x)
        if self.affine:
            angle = _uniform((n, 1), self.rotate_p, -self.degrees, self.degrees, 0.0, x, generator).squeeze(1)
            scale = _uniform((n, 1), self.scale_p, *self.scale, 1.0, x, generator).squeeze(1)
            fraction = _uniform((n, 2), self.translate_p, -self.translate, self.translate, 0.0, x, generator)
            shift = torch.stack([fraction[:, 0] * x.shape[-1], fraction[:, 1] * x.shape[-2]], -1)  # pixels
            x = warp(x, affine_matrices(angle, scale, shift, (x.shape[-2], x.shape[-1])))
        if self.noise_p > 0.0:
            x = x + self._noise(x, generator)
        return x

    def _noise(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        noise = self.noise_mean + self.noise_std * _random(torch.randn, tuple(x.shape), x, generator)
        applied = _chosen(x.shape[0], self.noise_p, x, generator)
        return torch.where(applied.view(-1, 1, 1, 1), noise, 0.0)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"
