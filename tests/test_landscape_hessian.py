"""Hessian instruments against the exact Hessian of tiny nets (torch.autograd.functional.hessian, float64)."""

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from netopt.landscape.hessian import (
    Hessian,
    hessian_trace,
    hessian_vector_product,
    lanczos,
    layer_sharpness,
    top_hessian_eigenvalue,
)
from netopt.landscape.parameters import flatten, layer_parameters, trainable, unflatten
from netopt.models.mlp import MLP
from netopt.nn import norm

NORMS = {
    "none": norm.Normalization(),
    "batch": norm.BatchNormalization(),
    "layer": norm.LayerNormalization(),
    "group": norm.GroupNormalization(num_groups=2),
    "weight": norm.WeightNormalization(),
    "lrn": norm.LocalResponseNormalization(size=3, alpha=1.0),
}


class Tiny:
    """An MLP of a few dozen parameters (float64), 12 samples in three unequal batches, and the exact
    Hessian of the mean cross-entropy over all of them, in evaluation mode."""

    def __init__(self, option: str, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.model = MLP(
            (1, 2, 2), 3, NORMS[option], dropout=0.0, depth=1, width=4, activation="tanh"
        ).double()
        self.x = torch.randn(12, 1, 2, 2, dtype=torch.float64)
        self.y = torch.randint(0, 3, (12,))
        self.model(self.x)  # a training-mode pass: batch norm's running estimates move off (0, 1)
        self.batches = [(self.x[a:b], self.y[a:b]) for a, b in ((0, 5), (5, 9), (9, 12))]
        self.names = [name for name, p in self.model.named_parameters() if p.requires_grad]
        self.params = trainable(self.model)
        self.hessian = self.exact(F.cross_entropy)

    def exact(self, loss_fn) -> torch.Tensor:
        self.model.eval()

        def loss_of(theta: torch.Tensor) -> torch.Tensor:
            values = dict(zip(self.names, unflatten(theta, self.params), strict=True))
            return loss_fn(functional_call(self.model, values, (self.x,)), self.y)

        hessian = torch.autograd.functional.hessian(loss_of, flatten(self.params).detach())
        self.model.train()
        return hessian


@pytest.fixture(scope="module", params=list(NORMS))
def tiny(request) -> Tiny:
    return Tiny(request.param)


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_hessian_vector_product_is_exact(tiny):
    v = torch.randn(tiny.hessian.shape[0], dtype=torch.float64, generator=generator())
    x, y = tiny.x, tiny.y
    tiny.model.eval()
    loss = F.cross_entropy(tiny.model(x), y)
    hv = hessian_vector_product(loss, tiny.params, unflatten(v, tiny.params))
    tiny.model.train()
    torch.testing.assert_close(flatten(hv), tiny.hessian @ v, rtol=1e-10, atol=1e-12)
    operator = Hessian(tiny.model, F.cross_entropy, tiny.batches)  # weighted over unequal batches
    torch.testing.assert_close(operator @ v, tiny.hessian @ v, rtol=1e-10, atol=1e-12)
    rows = torch.randn(3, len(v), dtype=torch.float64, generator=generator(1))
    torch.testing.assert_close(operator @ rows, rows @ tiny.hessian, rtol=1e-10, atol=1e-12)


def test_top_eigenvalue_is_the_exact_largest(tiny):
    values, vectors = torch.linalg.eigh(tiny.hessian)
    before = {k: v.clone() for k, v in tiny.model.state_dict().items()}
    top = top_hessian_eigenvalue(tiny.model, F.cross_entropy, tiny.batches, tol=1e-10, generator=generator())
    assert abs(top.value - values[-1].item()) <= 1e-6 * abs(values[-1].item())
    assert abs(top.vector @ vectors[:, -1]).item() == pytest.approx(1.0, abs=1e-6)
    assert top.iterations <= len(values)
    assert tiny.model.training  # the mode it had
    assert all(torch.equal(before[k], v) for k, v in tiny.model.state_dict().items())


def test_top_eigenvalue_when_a_negative_one_dominates():
    """With the negated loss the most negative eigenvalue is by far the largest in magnitude (power
    iteration would return it); the most positive one is still the one returned."""
    tiny = Tiny("none")

    def negated(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -F.cross_entropy(logits, y)

    values = torch.linalg.eigvalsh(tiny.exact(negated))
    assert -values[0] > 1.3 * values[-1] > 0
    top = top_hessian_eigenvalue(tiny.model, negated, tiny.batches, tol=1e-10, generator=generator())
    assert abs(top.value - values[-1].item()) <= 1e-6 * abs(values[-1].item())


def test_lanczos_on_a_matrix_with_close_and_negative_eigenvalues():
    q, _ = torch.linalg.qr(torch.randn(50, 50, dtype=torch.float64, generator=generator()))
    spectrum = torch.cat([torch.tensor([-10.0, 3.0, 2.999]), torch.linspace(-1, 1, 47)]).double()
    matrix = q @ torch.diag(spectrum) @ q.T
    start = torch.randn(50, dtype=torch.float64, generator=generator(1))
    top = lanczos(lambda v: matrix @ v, start, tol=1e-10)
    assert top.value == pytest.approx(3.0, rel=1e-10)
    assert top.residual <= 1e-10 * 3.0
    torch.testing.assert_close(matrix @ top.vector, top.value * top.vector, rtol=0, atol=1e-9)
    short = lanczos(lambda v: matrix @ v, start, max_iter=3, tol=1e-10)
    assert short.iterations == 3 and short.value < 3.0  # Ritz values approach from below


def test_hutchinson_trace_within_three_standard_errors(tiny):
    probes = 400
    whole = [(tiny.x, tiny.y)]  # one batch: a third of the double-backward passes of tiny.batches
    estimate = hessian_trace(
        tiny.model, F.cross_entropy, whole, probes=probes, probes_per_pass=probes, generator=generator()
    )
    exact = torch.trace(tiny.hessian).item()
    assert abs(estimate.mean - exact) <= 3 * estimate.stderr
    # Var(z^T H z) = 2 sum_{i != j} H_ij^2 for Rademacher z: the standard error it implies
    off_diagonal = tiny.hessian.square().sum() - tiny.hessian.diagonal().square().sum()
    expected = (2 * off_diagonal / probes).sqrt().item()
    assert 0.75 * expected <= estimate.stderr <= 1.25 * expected


def test_hutchinson_is_exact_for_a_diagonal_hessian():
    """One linear layer without bias on one-hot inputs, summed squared outputs: H = 2 I."""
    model = torch.nn.Linear(3, 2, bias=False).double()
    x = torch.eye(3, dtype=torch.float64)

    def loss_fn(out: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
        return out.square().sum(1).mean() * 3  # sum over the 3 samples

    estimate = hessian_trace(model, loss_fn, [(x, torch.zeros(3))], probes=5, generator=generator())
    assert estimate.mean == pytest.approx(2.0 * 6) and estimate.stderr == pytest.approx(0.0, abs=1e-12)


def test_layer_sharpness_is_the_top_eigenvalue_of_each_diagonal_block(tiny):
    offsets, start = {}, 0
    for p in tiny.model.parameters():
        offsets[id(p)] = torch.arange(start, start + p.numel())
        start += p.numel()
    groups = layer_parameters(tiny.model)
    result = layer_sharpness(tiny.model, F.cross_entropy, tiny.batches, tol=1e-10, generator=generator())
    assert list(result) == list(groups)
    for name, params in groups.items():
        index = torch.cat([offsets[id(p)] for p in params])
        exact = torch.linalg.eigvalsh(tiny.hessian[index][:, index])[-1].item()
        assert abs(result[name] - exact) <= 1e-6 * abs(exact), name


def test_weight_norm_layers_group_g_v_and_bias():
    groups = layer_parameters(Tiny("weight").model)
    assert [len(params) for params in groups.values()] == [3, 2]  # (bias, g, v) and the plain classifier
