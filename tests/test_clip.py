"""Gradient clipping against torch.nn.utils.clip_grad_norm_ / clip_grad_value_ and the formula."""

import math

import pytest
import torch

from netopt.errors import UserError
from netopt.optim import clip_grad_norm_, clip_grad_value_, grad_norm


def make_params(scale: float, seed: int = 0) -> list[torch.Tensor]:
    """Gradients of two dtypes (two foreach groups) and a parameter without a gradient."""
    generator = torch.Generator().manual_seed(seed)
    shapes_dtypes = [
        ((5, 3), torch.float64),
        ((7,), torch.float64),
        ((2, 2, 3), torch.float32),
        ((4,), torch.float64),
    ]
    params = [torch.zeros(shape, dtype=dtype, requires_grad=True) for shape, dtype in shapes_dtypes]
    for p in params[:-1]:
        p.grad = scale * torch.randn(p.shape, generator=generator, dtype=torch.float64).to(p.dtype)
    return params


def pair(scale: float) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    return make_params(scale), make_params(scale)


def l2_norm(params: list[torch.Tensor]) -> float:
    return math.sqrt(sum(p.grad.double().pow(2).sum().item() for p in params if p.grad is not None))


def assert_same_grads(ours: list[torch.Tensor], theirs: list[torch.Tensor]) -> None:
    for a, b in zip(ours, theirs, strict=True):
        if b.grad is None:
            assert a.grad is None
        else:
            torch.testing.assert_close(
                a.grad, b.grad, rtol=1e-6 if a.dtype == torch.float32 else 1e-12, atol=0
            )


def test_grad_norm_is_the_global_l2_norm() -> None:
    params = make_params(1.0)
    before = [p.grad.clone() for p in params[:-1]]
    assert grad_norm(params).item() == pytest.approx(l2_norm(params), rel=1e-6)
    assert all(torch.equal(p.grad, g) for p, g in zip(params, before, strict=False))  # measures only
    assert grad_norm([]).item() == 0.0


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])  # clipped, untouched
@pytest.mark.parametrize("foreach", [None, False])
def test_clip_grad_norm_matches_torch(norm_type: float, max_norm: float, foreach: bool | None) -> None:
    ours, theirs = pair(1.0)
    total = clip_grad_norm_(ours, max_norm, norm_type, foreach=foreach)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    torch.testing.assert_close(total, expected, rtol=1e-6, atol=0)
    assert_same_grads(ours, theirs)


def test_clip_grad_norm_returns_the_pre_clip_l2_norm_and_hits_the_bound() -> None:
    params = make_params(3.0)
    norm = l2_norm(params)
    assert clip_grad_norm_(params, 1.0).item() == pytest.approx(norm, rel=1e-6)
    assert l2_norm(params) == pytest.approx(1.0, rel=1e-5)  # b * g / ||g|| has norm b (up to 1e-6)


def test_clip_grad_norm_nonfinite() -> None:
    ours, theirs = pair(1.0)
    ours[0].grad[0, 0] = theirs[0].grad[0, 0] = math.nan
    with pytest.raises(RuntimeError, match="not finite"):
        clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    assert torch.isnan(clip_grad_norm_(ours, 1.0)) and torch.isnan(
        torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    )


@pytest.mark.parametrize("clip_value", [0.0, 0.3, 10.0])
def test_clip_grad_value_matches_torch(clip_value: float) -> None:
    ours, theirs = pair(1.0)
    norm = l2_norm(ours)
    assert clip_grad_value_(ours, clip_value).item() == pytest.approx(norm, rel=1e-6)  # pre-clip L2
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    assert_same_grads(ours, theirs)


@pytest.mark.parametrize("interval", [(-0.2, 0.5), (0.1, 0.3), (-1.0, -1.0)])
def test_clip_grad_value_on_an_interval_is_max_min(interval: tuple[float, float]) -> None:
    low, high = interval
    params = make_params(1.0)
    expected = [
        torch.maximum(torch.minimum(p.grad, torch.full_like(p.grad, high)), torch.full_like(p.grad, low))
        for p in params[:-1]
    ]
    norm = l2_norm(params)
    assert clip_grad_value_(params, interval=list(interval)).item() == pytest.approx(norm, rel=1e-6)
    for p, e in zip(params, expected, strict=False):
        assert torch.equal(p.grad, e)
    assert params[-1].grad is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, r"^clip_value=None: must be set \(clips to \[-c, c\]\) unless interval=\[a, b\] is"),
        (
            {"clip_value": 0.5, "interval": [-1.0, 1.0]},
            r"^interval=\[-1.0, 1.0\]: must be null while clip_value",
        ),
        ({"interval": [1.0, -1.0]}, r"^interval=\[1.0, -1.0\]: must be \[a, b\] with a <= b"),
        ({"interval": [1.0]}, r"^interval=\[1.0\]: must be a list of 2 values"),
        ({"clip_value": -1.0}, "^clip_value=-1.0: must be finite and >= 0"),
    ],
)
def test_clip_grad_value_user_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        clip_grad_value_(make_params(1.0), **kwargs)
