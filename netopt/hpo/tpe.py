"""The tree-structured Parzen estimator (TPE) that proposes BOHB's configurations.

Bergstra et al. (2011, Algorithms for Hyper-Parameter Optimization) model p(x | y) instead of
p(y | x): the observations split into the best ones (a fraction ``top_fraction``, at least
``min_points``) and the rest, each group gets a kernel density, l(x) over the good and g(x) over the
others, and expected improvement grows with l(x) / g(x). Following Falkner et al. (2018, BOHB:
Robust and Efficient Hyperparameter Optimization at Scale), the densities are products of one
kernel per dimension on the unit cube of the search space,

    numeric (uniform, integer):  K(u, u_i) = N(u; u_i, h^2)     h = max(sigma n^(-1/(d+4)), h_min)
    choice of k values:          K(c, c_i) = 1 - h if c = c_i, else h / (k - 1)      (Aitchison-Aitken)

and l(x) = (sum_i prod_j K(x_j, x_ij) + p(x)) / (n + 1), p the uniform prior on the cube (as in
Bergstra et al.), with Scott's rule for a numeric bandwidth (sigma the points' standard deviation, d
the dimensions) and h = min(n^(-1/(d+4)), (k - 1) / k) for a choice. The proposal is the best by
l(x) / g(x) of ``n_candidates`` points drawn from l with its bandwidths widened by
``bandwidth_factor`` (a random good point, each coordinate moved by its kernel and reflected into the
cube).
"""

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from netopt.hpo.space import Choice, SearchSpace

MIN_BANDWIDTH = 1e-3


@dataclass(frozen=True)
class ParzenDensity:
    """A product-kernel density over points (n, d) of the unit cube, with the uniform prior as one
    more component."""

    space: SearchSpace
    points: Tensor
    bandwidths: Tensor

    @classmethod
    def fit(cls, space: SearchSpace, points: Tensor) -> "ParzenDensity":
        n, d = points.shape
        scott = n ** (-1.0 / (d + 4))
        widths = []
        for j, dimension in enumerate(space.dimensions):
            if isinstance(dimension, Choice):
                k = len(dimension.values)
                widths.append(min(scott, (k - 1) / k) if k > 1 else 0.0)
            else:
                sigma = float(points[:, j].std()) if n > 1 else 1.0
                widths.append(max(sigma * scott, MIN_BANDWIDTH))
        return cls(space, points, torch.tensor(widths, dtype=torch.float64))

    def log_density(self, x: Tensor) -> Tensor:
        """log of the density at each of the points x (m, d): the mean of the n points' kernels and
        the uniform prior on the cube (Bergstra et al. 2011: the prior keeps g(x) off zero far from
        the observations, so l(x) / g(x) does not favour the faces of the cube)."""
        per_point = torch.zeros(len(x), len(self.points), dtype=torch.float64)
        for j, dimension in enumerate(self.space.dimensions):
            h = self.bandwidths[j]
            if isinstance(dimension, Choice):
                k = len(dimension.values)
                same = _category(x[:, j], k)[:, None] == _category(self.points[:, j], k)[None, :]
                kernel = torch.where(same, 1 - h, h / max(k - 1, 1))
                per_point += torch.log(kernel.clamp_min(1e-300))
            else:
                z = (x[:, j, None] - self.points[None, :, j]) / h
                per_point += -0.5 * z**2 - torch.log(h * math.sqrt(2 * math.pi))
        prior = torch.full((len(x), 1), self.log_prior, dtype=torch.float64)
        numeric = [j for j, d in enumerate(self.space.dimensions) if not isinstance(d, Choice)]
        outside = ((x[:, numeric] < 0) | (x[:, numeric] > 1)).any(dim=1, keepdim=True)
        prior = prior.masked_fill(outside, -math.inf)
        return torch.logsumexp(torch.cat([per_point, prior], dim=1), dim=1) - math.log(len(self.points) + 1)

    @property
    def log_prior(self) -> float:
        """log of the uniform density on the cube (each choice's values equally likely)."""
        return sum(-math.log(len(d.values)) for d in self.space.dimensions if isinstance(d, Choice))

    def sample(self, n: int, widen: float, generator: torch.Generator) -> Tensor:
        """n points: a random one of the density's, each coordinate moved by its kernel (numeric
        bandwidths times ``widen``, reflected at the cube's faces rather than piled up on them)."""
        picks = self.points[torch.randint(len(self.points), (n,), generator=generator)]
        out = picks.clone()
        for j, dimension in enumerate(self.space.dimensions):
            if isinstance(dimension, Choice):
                k = len(dimension.values)
                move = torch.rand(n, generator=generator, dtype=torch.float64) < self.bandwidths[j]
                other = (
                    _category(picks[:, j], k) + torch.randint(1, max(k, 2), (n,), generator=generator)
                ) % k
                out[:, j] = torch.where(move, (other + 0.5) / k, picks[:, j])
            else:
                noise = torch.randn(n, generator=generator, dtype=torch.float64)
                moved = (picks[:, j] + widen * self.bandwidths[j] * noise).abs()  # reflected at 0
                out[:, j] = (1 - (1 - moved).abs()).clamp(0.0, 1.0 - 1e-9)  # and at 1
        return out


def _category(u: Tensor, k: int) -> Tensor:
    return (u * k).long().clamp(0, k - 1)


def propose(
    space: SearchSpace,
    points: Tensor,
    scores: Tensor,
    generator: torch.Generator,
    top_fraction: float = 0.15,
    min_points: int | None = None,
    n_candidates: int = 64,
    bandwidth_factor: float = 3.0,
) -> Tensor:
    """The unit point (d,) that maximizes l(x) / g(x), given observed points (n, d) and their scores
    (larger is better; -inf for a failed trial), n >= 2 * min_points (default d + 1)."""
    least = min_points or len(space) + 1
    order = torch.argsort(scores, descending=True, stable=True)
    n_good = max(least, math.floor(top_fraction * len(points)))
    n_bad = max(least, len(points) - n_good)
    good = ParzenDensity.fit(space, points[order[:n_good]])
    bad = ParzenDensity.fit(space, points[order[-n_bad:]])
    candidates = good.sample(n_candidates, bandwidth_factor, generator)
    ratio = good.log_density(candidates) - bad.log_density(candidates)
    return candidates[int(torch.argmax(ratio))]
