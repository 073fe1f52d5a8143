"""Gaussian-process regression with a Matern-5/2 kernel, the surrogate of Bayesian optimization.

Kernel, with one length scale l_i per input dimension (ARD) and signal variance s2:

    k(x, x') = s2 (1 + sqrt(5) r + 5 r^2 / 3) exp(-sqrt(5) r),   r^2 = sum_i (x_i - x'_i)^2 / l_i^2

Observations y = f(x) + noise, noise ~ N(0, n2). With K = k(X, X) + n2 I = L L^T and alpha = K^-1 y,
the posterior at x* has mean k*^T alpha and variance k(x*, x*) - |L^-1 k*|^2, and the log marginal
likelihood is  log p(y | X) = -y^T alpha / 2 - sum_i log L_ii - n log(2 pi) / 2.

The targets are standardized (zero mean, unit variance) before fitting. The hyperparameters
(l, s2, n2) are fitted by maximizing the log marginal likelihood with a hundred steps of netopt's
Adam on their logarithms, from three starting length scales at once; a sigmoid keeps each
log-parameter inside a box, so the fit cannot run off to a degenerate kernel. The chapter
(Qiu Xipeng, Neural Networks and Deep Learning, ch. 7) only names the GP surrogate.
"""

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

from netopt.optim import Adam

# Boxes for the log-hyperparameters, for inputs in the unit cube and standardized targets.
LOG_LENGTH_SCALE = (math.log(0.01), math.log(20.0))
LOG_SIGNAL_VARIANCE = (math.log(0.05), math.log(20.0))
LOG_NOISE_VARIANCE = (math.log(1e-6), math.log(1.0))
JITTER = 1e-9


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread: the GP's matrices are tiny, and extra threads only add overhead."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def matern52(x1: Tensor, x2: Tensor, length_scale: Tensor, signal_variance: Tensor) -> Tensor:
    """Matern-5/2 covariance matrix (..., n1, n2) between rows of x1 (n1, d) and x2 (n2, d).

    length_scale (..., d) and signal_variance (...) may carry leading batch dimensions.
    """
    diff = (x1.unsqueeze(-2) - x2.unsqueeze(-3)) / length_scale.unsqueeze(-2).unsqueeze(-2)
    r = diff.pow(2).sum(-1).clamp_min(1e-30).sqrt()
    sqrt5_r = math.sqrt(5.0) * r
    return signal_variance[..., None, None] * (1.0 + sqrt5_r + sqrt5_r.pow(2) / 3.0) * torch.exp(-sqrt5_r)


def _boxed(raw: Tensor, box: tuple[float, float]) -> Tensor:
    low, high = box
    return torch.exp(low + (high - low) * torch.sigmoid(raw))


def _unboxed(value: float, box: tuple[float, float]) -> float:
    low, high = box
    p = min(max((math.log(value) - low) / (high - low), 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


@dataclass
class Hyperparameters:
    """Kernel hyperparameters; tensors may carry a leading batch dimension (one row per restart)."""

    length_scale: Tensor
    signal_variance: Tensor
    noise_variance: Tensor


def _cholesky(x: Tensor, hp: Hyperparameters) -> Tensor:
    """Cholesky factor L of K = k(x, x) + (n2 + JITTER) I (batched over hp's leading dims)."""
    k = matern52(x, x, hp.length_scale, hp.signal_variance)
    k = k + (hp.noise_variance[..., None, None] + JITTER) * torch.eye(len(x), dtype=x.dtype)
    return torch.linalg.cholesky(k)


def log_marginal_likelihood(x: Tensor, y: Tensor, hp: Hyperparameters) -> Tensor:
    """log p(y | x) of a zero-mean GP with hyperparameters hp (batched over hp's leading dims)."""
    n = x.shape[0]
    chol = _cholesky(x, hp)
    alpha = torch.cholesky_solve(y.expand(*chol.shape[:-1]).unsqueeze(-1), chol).squeeze(-1)
    log_det_half = torch.diagonal(chol, dim1=-2, dim2=-1).log().sum(-1)
    return -0.5 * (y * alpha).sum(-1) - log_det_half - 0.5 * n * math.log(2 * math.pi)


def fit_hyperparameters(x: Tensor, y: Tensor, steps: int = 100, lr: float = 0.1) -> Hyperparameters:
    """Maximize the log marginal likelihood over (l, s2, n2) from three starting length scales."""
    starts = (0.2, 0.5, 1.5)
    raw_length = torch.tensor([[_unboxed(s, LOG_LENGTH_SCALE)] * x.shape[1] for s in starts])
    raw_signal = torch.full((len(starts),), _unboxed(1.0, LOG_SIGNAL_VARIANCE))
    raw_noise = torch.full((len(starts),), _unboxed(1e-3, LOG_NOISE_VARIANCE))
    raw = [t.to(x.dtype).requires_grad_() for t in (raw_length, raw_signal, raw_noise)]

    def hyperparameters() -> Hyperparameters:
        boxes = (LOG_LENGTH_SCALE, LOG_SIGNAL_VARIANCE, LOG_NOISE_VARIANCE)
        return Hyperparameters(*(_boxed(r, b) for r, b in zip(raw, boxes, strict=True)))

    optimizer = Adam(raw, lr=lr)
    with one_thread():
        for _ in range(steps):
            optimizer.zero_grad()
            loss = -log_marginal_likelihood(x, y, hyperparameters()).sum()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        hp = hyperparameters()
        best = int(log_marginal_likelihood(x, y, hp).argmax())
    return Hyperparameters(hp.length_scale[best], hp.signal_variance[best], hp.noise_variance[best])


class GaussianProcess:
    """Posterior of a Matern-5/2 GP; build it with :meth:`fit`, which standardizes the targets."""

    def __init__(self, x: Tensor, z: Tensor, y_mean: Tensor, y_std: Tensor, hp: Hyperparameters) -> None:
        self.x, self.z, self.y_mean, self.y_std, self.hp = x, z, y_mean, y_std, hp
        with torch.no_grad():
            self.chol = _cholesky(x, hp)
            self.alpha = torch.cholesky_solve(z.unsqueeze(-1), self.chol).squeeze(-1)

    @classmethod
    def fit(cls, x: Tensor, y: Tensor, hp: Hyperparameters | None = None) -> "GaussianProcess":
        """Standardize y, fit the hyperparameters unless hp is given, and condition on (x, y)."""
        x, y = x.to(torch.float64), y.to(torch.float64)
        y_mean = y.mean()
        y_std = y.std() if len(y) > 1 and y.std() > 0 else torch.ones((), dtype=torch.float64)
        z = (y - y_mean) / y_std
        return cls(x, z, y_mean, y_std, hp if hp is not None else fit_hyperparameters(x, z))

    @torch.no_grad()
    def predict(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and standard deviation of f at the rows of x, in the units of y."""
        k_star = matern52(self.x, x.to(torch.float64), self.hp.length_scale, self.hp.signal_variance)
        mean = k_star.T @ self.alpha
        v = torch.linalg.solve_triangular(self.chol, k_star, upper=False)
        variance = (self.hp.signal_variance - v.pow(2).sum(0)).clamp_min(1e-12)
        return self.y_mean + self.y_std * mean, self.y_std * variance.sqrt()

    def condition(self, x: Tensor, y: Tensor) -> "GaussianProcess":
        """The posterior after also observing (x, y), keeping the hyperparameters and the scaling."""
        z = torch.cat([self.z, (y.to(torch.float64) - self.y_mean) / self.y_std])
        return GaussianProcess(torch.cat([self.x, x.to(torch.float64)]), z, self.y_mean, self.y_std, self.hp)
