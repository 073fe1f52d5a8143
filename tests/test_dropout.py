"""Inverted dropout, DropConnect and variational dropout, checked by their statistics.

No torch dropout is an exact oracle (different random streams), so the tests check what the
formula promises: kept entries are scaled by 1 / (1 - p), the number of zeros is binomial, the
mean is preserved, and evaluation mode is the identity.
"""

import math

import pytest
import torch
from torch import nn

from netopt.nn.dropout import DropConnect, Dropout, VariationalDropout, apply_dropconnect, dropout_mask

N = 50_000


def _binomial_z(zeros: int, n: int, p: float) -> float:
    return (zeros - n * p) / math.sqrt(n * p * (1 - p))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_scales_kept_units_and_zero_count_is_binomial(p):
    torch.manual_seed(0)
    x = torch.rand(N, dtype=torch.float64) + 0.5
    y = Dropout(p).train()(x)
    kept = y != 0
    torch.testing.assert_close(y[kept], x[kept] / (1 - p), rtol=1e-15, atol=0)
    assert abs(_binomial_z(int((~kept).sum()), N, p)) < 4.5


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_preserves_the_mean(p):
    torch.manual_seed(1)
    x = torch.full((N,), 3.0, dtype=torch.float64)
    y = Dropout(p)(x)
    standard_error = 3.0 * math.sqrt(p / (1 - p) / N)
    assert abs(y.mean().item() - 3.0) < 4.5 * standard_error


def test_dropout_is_identity_in_eval_and_for_p_zero():
    x = torch.randn(4, 5)
    assert Dropout(0.5).eval()(x) is x
    assert Dropout(0.0).train()(x) is x


def test_dropout_p_one_gives_zeros_and_gradient_flows_through_kept_units():
    x = torch.randn(8, 3, requires_grad=True)
    assert torch.equal(Dropout(1.0)(x), torch.zeros(8, 3))
    torch.manual_seed(2)
    y = Dropout(0.5)(x)
    y.sum().backward()
    torch.testing.assert_close(x.grad, (y != 0).float() * 2.0)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_bad_probability_is_rejected(p):
    with pytest.raises(ValueError, match="between 0 and 1"):
        Dropout(p)


def test_mask_uses_the_generator():
    like = torch.empty(())
    a = dropout_mask((100,), 0.5, like, torch.Generator().manual_seed(3))
    b = dropout_mask((100,), 0.5, like, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_dropconnect_masks_weights_not_inputs():
    torch.manual_seed(4)
    layer = nn.Linear(400, 300, dtype=torch.float64)
    weight = layer.weight.detach().clone()
    apply_dropconnect(layer, 0.3)
    x = torch.randn(2, 400, dtype=torch.float64)
    layer.train()
    torch.manual_seed(5)
    y = layer(x)
    torch.manual_seed(5)
    masked = DropConnect(0.3)(weight)
    torch.testing.assert_close(y, x @ masked.T + layer.bias, rtol=1e-12, atol=1e-12)
    zeros = int((masked == 0).sum())
    assert abs(_binomial_z(zeros, weight.numel(), 0.3)) < 4.5
    layer.eval()
    torch.testing.assert_close(layer(x), x @ weight.T + layer.bias, rtol=1e-12, atol=1e-12)


def test_apply_dropconnect_reaches_conv_and_linear_and_keeps_training():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 2))
    apply_dropconnect(model, 0.5)
    assert isinstance(model[0].parametrizations.weight[0], DropConnect)
    assert isinstance(model[2].parametrizations.weight[0], DropConnect)
    model(torch.randn(3, 1, 4, 4)).sum().backward()
    assert model[2].parametrizations.weight.original.grad is not None
    assert apply_dropconnect(nn.Linear(2, 2), 0.0).weight.__class__ is nn.Parameter


@pytest.mark.parametrize("batch_first", [False, True])
def test_variational_dropout_shares_one_mask_over_time(batch_first):
    torch.manual_seed(6)
    steps, batch, features = 7, 64, 50
    shape = (batch, steps, features) if batch_first else (steps, batch, features)
    x = torch.ones(shape, dtype=torch.float64)
    y = VariationalDropout(0.4, batch_first=batch_first)(x)
    per_step = y.unbind(1 if batch_first else 0)
    assert all(torch.equal(step, per_step[0]) for step in per_step)
    assert set(torch.unique(y).tolist()) == {0.0, 1 / 0.6}
    assert abs(_binomial_z(int((per_step[0] == 0).sum()), batch * features, 0.4)) < 4.5
    assert VariationalDropout(0.4).eval()(x) is x


def test_a_dropconnect_layer_can_be_initialized_afterwards():
    layer = apply_dropconnect(nn.Sequential(nn.Linear(4, 3)), 0.5)[0]
    with torch.no_grad():
        layer.weight = torch.ones(3, 4)
    assert torch.equal(layer.parametrizations.weight.original, torch.ones(3, 4))
