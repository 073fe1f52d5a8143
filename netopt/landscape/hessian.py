"""Curvature of the training loss: Hessian-vector products, sharpness and the Hessian trace.

The chapter (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7) describes the loss surface by its
critical points: saddle points, where the Hessian H = d^2 L / d theta^2 has eigenvalues of both signs,
and flat or sharp minima, where the loss rises slowly or fast away from the minimum. Sharpness is
measured here as the largest eigenvalue lambda_max of H (Keskar et al. 2017, On Large-Batch Training
for Deep Learning: Generalization Gap and Sharp Minima, who find that large batches reach sharper
minima); its size overall as the trace tr(H), the sum of all eigenvalues.

H is never formed: H v = d/d theta (grad L(theta) . v) costs one more backward pass through the
graph of the gradient (Pearlmutter 1994, Fast Exact Multiplication by the Hessian). The loss is the
mean over a fixed list of batches, L = sum_b (n_b / N) loss_fn(model(x_b), y_b), in evaluation mode
(batch norm with its running estimates, no dropout), one batch at a time so memory stays that of one
batch. theta is every trainable parameter (see :mod:`netopt.landscape.parameters`).
"""

import logging
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from netopt.landscape.parameters import evaluating, flatten, layer_parameters, trainable, unflatten

log = logging.getLogger(__name__)

LossFn = Callable[[Tensor, Tensor], Tensor]
Batches = Sequence[tuple[Tensor, Tensor]]


class Eigenpair(NamedTuple):
    """An eigenvalue estimate, its unit eigenvector (flat, in parameter order), the Lanczos
    iterations (= Hessian-vector products) it took and its residual ||H u - value u||."""

    value: float
    vector: Tensor
    iterations: int
    residual: float


class TraceEstimate(NamedTuple):
    """The mean of Hutchinson's probes and its standard error."""

    mean: float
    stderr: float


def hessian_vector_product(
    loss: Tensor, params: Sequence[Tensor], vector: Sequence[Tensor]
) -> tuple[Tensor, ...]:
    """H v = d/d theta (grad L . v), by double backward (Pearlmutter 1994).

    ``vector`` holds one tensor per parameter, shaped like it; so does the result.
    """
    grads = torch.autograd.grad(loss, params, create_graph=True, materialize_grads=True)
    return _derivative_along(grads, params, vector)


def _derivative_along(
    grads: Sequence[Tensor], params: Sequence[Tensor], vector: Sequence[Tensor], retain_graph: bool = False
) -> tuple[Tensor, ...]:
    """d/d theta (g . v) for a gradient g built with ``create_graph``: H v."""
    dot = sum((g * v).sum() for g, v in zip(grads, vector, strict=True))
    if not isinstance(dot, Tensor) or not dot.requires_grad:  # g does not depend on theta: H = 0
        return tuple(torch.zeros_like(p) for p in params)
    return torch.autograd.grad(dot, params, retain_graph=retain_graph, materialize_grads=True)


class Hessian:
    """The Hessian of L(theta) = sum_b (n_b / N) loss_fn(model(x_b), y_b) over fixed ``batches``,
    as a linear map on flat vectors of ``size`` = the number of entries of ``params`` (default:
    the trainable parameters).

    ``hessian @ v`` is H v for v of shape (size,), or H applied to each row of V (k, size): then every
    batch runs its forward and first backward once for all k rows.
    """

    def __init__(
        self, model: nn.Module, loss_fn: LossFn, batches: Batches, params: Sequence[Tensor] | None = None
    ) -> None:
        if not batches:
            raise ValueError("the Hessian needs at least one batch")
        self.model, self.loss_fn, self.batches = model, loss_fn, batches
        self.params = list(params) if params is not None else trainable(model)
        self.size = sum(p.numel() for p in self.params)
        total = sum(len(y) for _, y in batches)
        self.weights = [len(y) / total for _, y in batches]

    def __matmul__(self, vectors: Tensor) -> Tensor:
        rows = vectors.reshape(-1, self.size)
        product = torch.zeros_like(rows)
        with evaluating(self.model), torch.enable_grad():
            for (x, y), weight in zip(self.batches, self.weights, strict=True):
                loss = self.loss_fn(self.model(x), y) * weight
                grads = torch.autograd.grad(loss, self.params, create_graph=True, materialize_grads=True)
                for i, row in enumerate(rows):
                    hv = _derivative_along(grads, self.params, unflatten(row, self.params), i + 1 < len(rows))
                    product[i] += flatten(hv)
        return product.view_as(vectors)

    def random_vectors(
        self, rows: int, generator: torch.Generator | None, rademacher: bool = False
    ) -> Tensor:
        """(rows, size) standard normal draws from ``generator`` (or random signs, Rademacher), on the
        parameters' device and in their dtype."""
        like = self.params[0]
        device = generator.device if generator is not None else torch.device("cpu")
        if rademacher:
            draws = torch.randint(0, 2, (rows, self.size), generator=generator, device=device) * 2 - 1
        else:
            draws = torch.randn(rows, self.size, generator=generator, device=device, dtype=like.dtype)
        return draws.to(like.device, like.dtype)


def lanczos(
    operator: Callable[[Tensor], Tensor], start: Tensor, *, max_iter: int = 100, tol: float = 1e-3
) -> Eigenpair:
    """The largest (most positive) eigenvalue of a symmetric ``operator`` by the Lanczos method.

    From q_1 = start / ||start||, each iteration multiplies once by A and orthogonalizes against all
    previous q (Gram-Schmidt twice: full reorthogonalization), building q_1..q_k with
    Q^T A Q = T_k tridiagonal (alpha_j = q_j^T A q_j on the diagonal, beta_j = ||r_j|| beside it). The
    largest eigenvalue theta of T_k (a Ritz value) approaches lambda_max from below; its Ritz vector
    u = Q s has residual ||A u - theta u|| = beta_k |s_k|, and the loop stops once that is
    <= ``tol`` * |theta| (so some eigenvalue lies within tol * |theta| of theta, and lambda_max much
    closer when it is separated from the rest), after ``max_iter`` products, or when the Krylov space
    is the whole space.

    Unlike power iteration, which finds the eigenvalue of largest magnitude (a negative one at a
    saddle) and slows down when the top two are close, Lanczos gives the most positive one directly
    and converges much faster (Golub and Van Loan, Matrix Computations, ch. 10). It keeps the k
    vectors q_j: memory k times that of the parameters.
    """
    if max_iter < 1:
        raise ValueError(f"max_iter={max_iter}: must be at least 1")
    size = start.numel()
    basis = start.new_zeros(min(max_iter, size), size)
    basis[0] = start / torch.linalg.vector_norm(start)
    alphas: list[float] = []
    betas: list[float] = []
    for k in range(len(basis)):
        w = operator(basis[k])
        done = basis[: k + 1]
        coefficients = done @ w
        alphas.append(coefficients[k].item())
        w -= coefficients @ done
        w -= (done @ w) @ done
        beta = torch.linalg.vector_norm(w).item()
        value, s = _top_ritz_pair(alphas, betas)
        residual = beta * abs(s[-1].item())
        if residual <= tol * abs(value) or k + 1 == len(basis):
            break
        betas.append(beta)
        basis[k + 1] = w / beta
    if residual > tol * abs(value) and len(basis) < size:
        log.warning("Lanczos stopped after max_iter=%d iterations with residual %.3g", max_iter, residual)
    return Eigenpair(value, s.to(basis) @ done, len(alphas), residual)


def _top_ritz_pair(alphas: list[float], betas: list[float]) -> tuple[float, Tensor]:
    """The largest eigenvalue of the tridiagonal T (``alphas`` on the diagonal, ``betas`` beside it)
    and its unit eigenvector."""
    off = torch.tensor(betas, dtype=torch.float64)
    tridiagonal = (
        torch.diag(torch.tensor(alphas, dtype=torch.float64)) + torch.diag(off, 1) + torch.diag(off, -1)
    )
    thetas, vectors = torch.linalg.eigh(tridiagonal)
    return thetas[-1].item(), vectors[:, -1]


def top_hessian_eigenvalue(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Batches,
    *,
    params: Sequence[Tensor] | None = None,
    max_iter: int = 100,
    tol: float = 1e-3,
    generator: torch.Generator | None = None,
) -> Eigenpair:
    """Sharpness: the largest (most positive) eigenvalue lambda_max of the Hessian of the mean loss
    over ``batches``, by :func:`lanczos` from a Gaussian start vector drawn from ``generator``.

    At a minimum lambda_max >= 0 is the curvature along the sharpest direction; at a saddle the
    most negative eigenvalue may be larger in magnitude, and it is still lambda_max that is returned
    (the most negative one is that of the negated loss).
    """
    hessian = Hessian(model, loss_fn, batches, params)
    return lanczos(hessian.__matmul__, hessian.random_vectors(1, generator)[0], max_iter=max_iter, tol=tol)


def hessian_trace(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Batches,
    *,
    params: Sequence[Tensor] | None = None,
    probes: int = 100,
    probes_per_pass: int = 10,
    generator: torch.Generator | None = None,
) -> TraceEstimate:
    """tr(H) by Hutchinson's estimator (Hutchinson 1990, A Stochastic Estimator of the Trace of the
    Influence Matrix): tr(H) = E[z^T H z] for z with independent random signs (Rademacher), so

        tr(H) ~ mean_i z_i^T H z_i,   standard error = std_i(z_i^T H z_i) / sqrt(probes),

    with ``probes`` draws from ``generator``. Var(z^T H z) = 2 sum_{i != j} H_ij^2: the estimate is
    exact for a diagonal H. ``probes_per_pass`` probes share each batch's forward and first backward
    (memory: that many parameter-sized vectors).
    """
    if probes < 2:
        raise ValueError(f"probes={probes}: need at least 2 for a standard error")
    hessian = Hessian(model, loss_fn, batches, params)
    quadratic_forms = []
    for start in range(0, probes, probes_per_pass):
        z = hessian.random_vectors(min(probes_per_pass, probes - start), generator, rademacher=True)
        quadratic_forms.append((z * (hessian @ z)).sum(1))
    values = torch.cat(quadratic_forms).double()
    return TraceEstimate(values.mean().item(), (values.std() / probes**0.5).item())


def layer_sharpness(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Batches,
    *,
    max_iter: int = 100,
    tol: float = 1e-3,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """Per-layer sharpness: for each module that owns trainable parameters (see
    :func:`~netopt.landscape.parameters.layer_parameters`), the largest eigenvalue of its diagonal
    block H_ll = d^2 L / d theta_l^2 of the Hessian, the curvature when only that layer moves."""
    return {
        name: top_hessian_eigenvalue(
            model, loss_fn, batches, params=params, max_iter=max_iter, tol=tol, generator=generator
        ).value
        for name, params in layer_parameters(model).items()
    }
