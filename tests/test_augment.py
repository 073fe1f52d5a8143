"""Batched augmentation: exact cases against torch ops, per-sample draws, noise statistics, presets."""

import math

import pytest
import torch
from hydra.utils import instantiate

from netopt.components import preflight
from netopt.data.augment import Augment, affine_matrices, warp
from netopt.errors import UserError
from netopt.run.record import augmentation_figure
from tests.helpers import compose_config


def _images(n: int = 4, h: int = 8, w: int = 8) -> torch.Tensor:
    return torch.rand(n, 3, h, w, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


def _warp(x, angle=0.0, scale=1.0, shift=(0.0, 0.0)):
    n = x.shape[0]
    theta = affine_matrices(
        torch.full((n,), angle, dtype=x.dtype),
        torch.full((n,), scale, dtype=x.dtype),
        torch.tensor([shift], dtype=x.dtype).expand(n, 2),
        tuple(x.shape[-2:]),
    )
    return warp(x, theta)


@pytest.mark.parametrize("k", [1, 2, 3, -1])
def test_quarter_turns_equal_rot90(k):
    x = _images()
    torch.testing.assert_close(_warp(x, angle=90.0 * k), torch.rot90(x, k, (-2, -1)), rtol=0, atol=1e-12)


def test_rotation_of_a_non_square_image_does_not_shear():
    """A 90 degree turn of a 6x10 image whose content sits in the central 6x6 square."""
    x = torch.zeros(2, 1, 6, 10, dtype=torch.float64)
    x[..., 2:8] = _images(2, 6, 6)[:, :1]
    expected = torch.zeros_like(x)
    expected[..., 2:8] = torch.rot90(x[..., 2:8], 1, (-2, -1))
    torch.testing.assert_close(_warp(x, angle=90.0), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shift", [(1.0, 0.0), (0.0, -2.0), (3.0, 2.0), (-1.0, 1.0)])
@pytest.mark.parametrize("size", [(8, 8), (6, 10)])
def test_integer_translation_is_a_shifted_copy_with_zero_fill(shift, size):
    x = _images(3, *size)
    dx, dy = int(shift[0]), int(shift[1])
    expected = torch.zeros_like(x)
    h, w = size
    expected[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        ..., max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    torch.testing.assert_close(_warp(x, shift=shift), expected, rtol=0, atol=1e-12)


def _interpolation_matrix(size: int, scale: float) -> torch.Tensor:
    """Rows: output pixel i reads input coordinate (i - c) / scale + c, linear weights, zero outside."""
    centre = (size - 1) / 2
    matrix = torch.zeros(size, size, dtype=torch.float64)
    for i in range(size):
        coordinate = (i - centre) / scale + centre
        low = math.floor(coordinate)
        for j, weight in ((low, 1 - (coordinate - low)), (low + 1, coordinate - low)):
            if 0 <= j < size:
                matrix[i, j] = weight
    return matrix


@pytest.mark.parametrize("scale", [2.0, 0.5, 1.0])
def test_scaling_about_the_centre_is_separable_linear_interpolation(scale):
    x = _images(2, 8, 8)
    a = _interpolation_matrix(8, scale)
    torch.testing.assert_close(_warp(x, scale=scale), a @ x @ a.T, rtol=0, atol=1e-12)


def test_flip_equals_torch_flip():
    x = _images()
    torch.testing.assert_close(Augment(flip_p=1.0)(x, torch.Generator().manual_seed(1)), torch.flip(x, (-1,)))


def test_flip_probability_is_per_sample():
    x = _images(1).expand(4000, -1, -1, -1)
    y = Augment(flip_p=0.3)(x, torch.Generator().manual_seed(2))
    flipped = (y == x.flip(-1)).flatten(1).all(1)
    assert ((y == x).flatten(1).all(1) ^ flipped).all()
    assert abs(flipped.double().mean().item() - 0.3) < 4.5 * math.sqrt(0.3 * 0.7 / 4000)


def test_noise_has_the_configured_mean_and_std():
    x = torch.zeros(200, 1, 28, 28, dtype=torch.float64)
    y = Augment(noise_p=1.0, noise_mean=0.3, noise_std=0.2)(x, torch.Generator().manual_seed(3))
    n = y.numel()
    assert abs(y.mean().item() - 0.3) < 4.5 * 0.2 / math.sqrt(n)
    assert abs(y.std().item() - 0.2) < 4.5 * 0.2 / math.sqrt(2 * n)


def test_noise_probability_selects_whole_samples():
    x = torch.zeros(2000, 1, 4, 4)
    noisy = (Augment(noise_p=0.25, noise_std=1.0)(x, torch.Generator().manual_seed(4)) != 0).flatten(1)
    assert (noisy.all(1) | ~noisy.any(1)).all()
    assert abs(noisy.all(1).float().mean().item() - 0.25) < 4.5 * math.sqrt(0.25 * 0.75 / 2000)


def test_every_sample_gets_its_own_draw_and_the_generator_decides():
    x = _images(1).expand(64, -1, -1, -1)
    augment = Augment(
        rotate_p=1.0, degrees=30.0, scale_p=1.0, scale=(0.8, 1.2), translate_p=1.0, translate=0.2
    )
    y = augment(x, torch.Generator().manual_seed(5))
    assert len({tuple(image.flatten().tolist()) for image in y}) == 64
    torch.testing.assert_close(y, augment(x, torch.Generator().manual_seed(5)), rtol=0, atol=0)
    assert not torch.equal(y, augment(x, torch.Generator().manual_seed(6)))


def test_none_is_the_identity_and_the_preview_labels_its_rows():
    x = _images()
    assert Augment()(x, torch.Generator()) is x and not Augment().enabled and Augment(noise_p=0.1).enabled
    figure = augmentation_figure(x, Augment(flip_p=1.0), torch.Generator(), n=3)
    axes = figure.get_axes()
    assert len(axes) == 6 and [axes[0].get_ylabel(), axes[3].get_ylabel()] == ["original", "augmented"]


PRESETS = ["none", "flip", "rotate", "scale", "translate", "noise", "standard"]


@pytest.mark.parametrize("name", PRESETS)
def test_presets_compose_validate_and_build(name):
    cfg = compose_config(f"augmentation={name}")
    preflight(cfg)
    augment = instantiate(cfg.augmentation)
    x = _images().float()
    assert augment(x, torch.Generator().manual_seed(0)).shape == x.shape


def test_out_of_range_probability_names_the_key():
    cfg = compose_config("augmentation=rotate", "augmentation.rotate_p=1.5")
    with pytest.raises(UserError, match=r"^augmentation.rotate_p=1.5: must be in \[0, 1\]"):
        preflight(cfg)
