"""Parity of netopt's normalization layers with their torch.nn counterparts, in float64."""

import pytest
import torch
from hydra.utils import instantiate
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from netopt.errors import UserError
from netopt.nn import norm
from tests.helpers import compose_config

TOL = dict(rtol=1e-10, atol=1e-12)


@pytest.fixture(autouse=True)
def _float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _randomize(module: nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p))


def _step(mine: nn.Module, theirs: nn.Module, x: torch.Tensor) -> None:
    """One forward and backward of both modules: equal outputs, input gradients, parameter gradients."""
    x_mine, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_mine, y_theirs = mine(x_mine), theirs(x_theirs)
    torch.testing.assert_close(y_mine, y_theirs, **TOL)
    upstream = torch.randn_like(y_theirs)
    y_mine.backward(upstream)
    y_theirs.backward(upstream)
    torch.testing.assert_close(x_mine.grad, x_theirs.grad, **TOL)
    for (name, p_mine), (_, p_theirs) in zip(mine.named_parameters(), theirs.named_parameters(), strict=True):
        torch.testing.assert_close(p_mine.grad, p_theirs.grad, **TOL, msg=name)


def _state_equal(mine: nn.Module, theirs: nn.Module) -> None:
    mine_state, theirs_state = mine.state_dict(), theirs.state_dict()
    assert list(mine_state) == list(theirs_state)
    for key in theirs_state:
        torch.testing.assert_close(mine_state[key], theirs_state[key], **TOL, msg=key)


def _parity(mine: nn.Module, theirs: nn.Module, shape: tuple[int, ...], steps: int = 3) -> None:
    """Train-mode steps (running statistics follow), then eval mode; state_dicts equal throughout."""
    _randomize(theirs)
    mine.load_state_dict(theirs.state_dict())
    for _ in range(steps):
        _step(mine, theirs, 3.0 * torch.randn(shape) + 1.5)
        _state_equal(mine, theirs)
    mine.eval(), theirs.eval()
    _step(mine, theirs, torch.randn(shape))
    _state_equal(mine, theirs)


@pytest.mark.parametrize(
    ("mine", "theirs", "shape"),
    [
        (norm.BatchNorm1d, nn.BatchNorm1d, (16, 6)),
        (norm.BatchNorm1d, nn.BatchNorm1d, (8, 6, 5)),
        (norm.BatchNorm2d, nn.BatchNorm2d, (8, 6, 5, 4)),
    ],
)
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"momentum": 0.3, "eps": 1e-3},
        {"momentum": None},
        {"affine": False},
        {"track_running_stats": False},
    ],
)
def test_batch_norm_matches_torch(mine, theirs, shape, kwargs):
    _parity(mine(6, **kwargs), theirs(6, **kwargs), shape)


@pytest.mark.parametrize(
    ("mine", "theirs", "shape"),
    [
        (lambda: norm.BatchNorm2d(3), lambda: nn.BatchNorm2d(3), (4, 3, 2, 2)),
        (lambda: norm.GroupNorm(2, 4), lambda: nn.GroupNorm(2, 4), (3, 4, 2, 2)),
        (lambda: norm.LayerNorm(5), lambda: nn.LayerNorm(5), (3, 5)),
    ],
)
def test_second_derivatives_match_torch(mine, theirs, shape):
    """Hessian-vector products (sharpness, SPEC section 10) go through the layers' double backward."""
    mine, theirs = mine(), theirs()
    _randomize(theirs)
    mine.load_state_dict(theirs.state_dict())
    x, v = torch.randn(shape, requires_grad=True), torch.randn(shape)
    hvps = []
    for layer in (mine, theirs):
        (grad,) = torch.autograd.grad((layer(x) ** 3).sum(), x, create_graph=True)
        hvps.append(torch.autograd.grad((grad * v).sum(), x)[0])
    torch.testing.assert_close(*hvps, **TOL)


def test_batch_norm_rejects_one_value_per_channel():
    with pytest.raises(ValueError, match="more than 1 value"):
        norm.BatchNorm1d(3)(torch.randn(1, 3))


def test_batch_norm_loads_a_torch_state_dict():
    theirs = nn.BatchNorm2d(4)
    theirs(torch.randn(5, 4, 3, 3))
    mine = norm.BatchNorm2d(4)
    mine.load_state_dict(theirs.state_dict())
    assert mine.num_batches_tracked.item() == 1
    torch.testing.assert_close(mine.running_var, theirs.running_var)


@pytest.mark.parametrize(
    ("normalized_shape", "shape", "kwargs"),
    [
        (7, (5, 7), {}),
        (7, (3, 4, 7), {"eps": 1e-3}),
        ((4, 3, 3), (5, 4, 3, 3), {}),
        (7, (5, 7), {"elementwise_affine": False}),
        (7, (5, 7), {"bias": False}),
    ],
)
def test_layer_norm_matches_torch(normalized_shape, shape, kwargs):
    _parity(norm.LayerNorm(normalized_shape, **kwargs), nn.LayerNorm(normalized_shape, **kwargs), shape, 1)


@pytest.mark.parametrize(
    ("groups", "shape", "kwargs"),
    [
        (1, (4, 6, 3, 3), {}),
        (2, (4, 6, 3, 3), {"eps": 1e-2}),
        (6, (4, 6, 5), {}),
        (3, (4, 6), {"affine": False}),
    ],
)
def test_group_norm_matches_torch(groups, shape, kwargs):
    _parity(norm.GroupNorm(groups, 6, **kwargs), nn.GroupNorm(groups, 6, **kwargs), shape, 1)


@pytest.mark.parametrize(
    ("size", "kwargs"),
    [(1, {}), (2, {}), (3, {"alpha": 0.5, "beta": 0.6}), (5, {"k": 2.0, "alpha": 1.0}), (8, {"alpha": 0.1})],
)
@pytest.mark.parametrize("shape", [(3, 7, 4), (3, 7, 4, 5)])
def test_local_response_norm_matches_torch(size, kwargs, shape):
    _parity(norm.LocalResponseNorm(size, **kwargs), nn.LocalResponseNorm(size, **kwargs), shape, 1)


def test_local_response_norm_accepts_features_without_positions():
    x = torch.randn(4, 7)
    expected = nn.LocalResponseNorm(3, alpha=1.0)(x.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(norm.LocalResponseNorm(3, alpha=1.0)(x), expected, **TOL)


@pytest.mark.parametrize(
    ("make", "shape"),
    [(lambda: nn.Linear(5, 4), (6, 5)), (lambda: nn.Conv2d(3, 4, 3), (2, 3, 6, 6))],
)
@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_matches_torch(make, shape, dim):
    torch.manual_seed(0)
    theirs = weight_norm(make(), dim=dim)
    torch.manual_seed(0)
    mine = norm.weight_normalized(make(), dim=dim)
    _state_equal(mine, theirs)
    torch.testing.assert_close(mine.weight, theirs.weight, **TOL)
    _randomize(theirs)
    mine.load_state_dict(theirs.state_dict())
    _step(mine, theirs, torch.randn(shape))
    _state_equal(mine, theirs)


def test_weight_norm_keeps_an_assigned_weight():
    layer = norm.weight_normalized(nn.Linear(5, 4))
    weight = torch.randn(4, 5)
    with torch.no_grad():
        layer.weight = weight
    torch.testing.assert_close(layer.weight, weight, **TOL)
    g = layer.parametrizations.weight.original0
    torch.testing.assert_close(g.flatten(), weight.norm(dim=1), **TOL)


def test_hooks_place_the_layers():
    assert isinstance(norm.BatchNormalization().after_affine(8, spatial=True), norm.BatchNorm2d)
    assert isinstance(norm.BatchNormalization().after_affine(8, spatial=False), norm.BatchNorm1d)
    assert isinstance(norm.LayerNormalization().after_affine(8, spatial=False), norm.LayerNorm)
    assert isinstance(norm.LayerNormalization().after_affine(8, spatial=True), norm.GroupNorm)
    assert isinstance(norm.GroupNormalization(4).after_affine(8, spatial=True), norm.GroupNorm)
    lrn = norm.LocalResponseNormalization()
    assert isinstance(lrn.after_activation(8, spatial=True), norm.LocalResponseNorm)
    assert isinstance(lrn.after_affine(8, spatial=True), nn.Identity)
    wrapped = norm.WeightNormalization().wrap(nn.Conv2d(3, 8, 3))
    assert set(dict(wrapped.named_parameters())) == {
        "bias",
        "parametrizations.weight.original0",
        "parametrizations.weight.original1",
    }
    layer = nn.Linear(3, 3)
    assert norm.Normalization().wrap(layer) is layer


def test_layer_norm_on_conv_features_uses_all_neurons_of_the_layer():
    x = torch.randn(4, 6, 5, 5) * 3 + 2
    y = norm.LayerNormalization().after_affine(6, spatial=True)(x)
    torch.testing.assert_close(y.mean(dim=(1, 2, 3)), torch.zeros(4), atol=1e-10, rtol=0)
    torch.testing.assert_close(y.var(dim=(1, 2, 3), correction=0), torch.ones(4), atol=1e-4, rtol=0)


def test_group_norm_option_rejects_indivisible_widths():
    with pytest.raises(UserError, match="norm.num_groups"):
        norm.GroupNormalization(4).after_affine(6, spatial=True)


@pytest.mark.parametrize(
    ("option", "cls"),
    [
        ("none", norm.Normalization),
        ("batch", norm.BatchNormalization),
        ("layer", norm.LayerNormalization),
        ("group", norm.GroupNormalization),
        ("weight", norm.WeightNormalization),
        ("lrn", norm.LocalResponseNormalization),
    ],
)
def test_norm_options_compose_and_instantiate(option, cls):
    cfg = compose_config(f"norm={option}")
    assert type(instantiate(cfg.norm)) is cls
