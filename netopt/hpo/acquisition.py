"""Expected improvement and a batch of q proposals per round (kriging believer).

For a GP posterior with mean mu(x) and standard deviation sigma(x), and f* the best value observed
(larger is better), the expected improvement is

    EI(x) = (mu - f* - xi) Phi(z) + sigma phi(z),   z = (mu - f* - xi) / sigma

with Phi, phi the standard normal cdf and pdf. EI is maximized over a finite set of candidates:
scrambled Sobol points of the unit cube plus Gaussian perturbations of the best points observed.
To propose q points in one round, each chosen point is added to the GP with its posterior mean as
a fake observation (the kriging believer; f* too counts it), which shrinks the uncertainty there
and pushes the next choice elsewhere; the hyperparameters are not refitted in between.
"""

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from netopt.hpo.gp import GaussianProcess, one_thread
from netopt.hpo.space import SearchSpace

LOCAL_SCALE = 0.1  # standard deviation of the perturbations around the best points, in the unit cube


def expected_improvement(mean: Tensor, std: Tensor, best: float, xi: float = 0.0) -> Tensor:
    """EI of a maximization problem at points with posterior mean and std (same shape)."""
    gain = mean - best - xi
    z = gain / std
    cdf = 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))
    pdf = torch.exp(-0.5 * z.pow(2)) / math.sqrt(2.0 * math.pi)
    return gain * cdf + std * pdf


def candidates(space: SearchSpace, best_points: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """n Sobol points of the unit cube and n/2 perturbations of best_points (k, d), in [0, 1)."""
    seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
    sobol = torch.quasirandom.SobolEngine(len(space), scramble=True, seed=seed).draw(n, dtype=torch.float64)
    if len(best_points) == 0:
        return sobol
    centers = best_points[torch.randint(len(best_points), (n // 2,), generator=generator)]
    noise = LOCAL_SCALE * torch.randn(centers.shape, generator=generator, dtype=torch.float64)
    return torch.cat([sobol, (centers + noise).clamp(0.0, 1.0 - 1e-9)])


@one_thread()
def propose_batch(
    space: SearchSpace,
    configs: Sequence[Mapping[str, Any]],
    scores: Tensor,
    q: int,
    generator: torch.Generator,
    n_candidates: int = 2048,
    xi: float = 0.0,
) -> list[dict[str, Any]]:
    """q configurations maximizing EI for a GP fitted to (configs, scores); larger scores are better."""
    gp = GaussianProcess.fit(space.encode(configs), scores)
    best = float(scores.max())
    top = scores.argsort(descending=True)[:5].tolist()
    best_points = space.to_unit([configs[i] for i in top])
    chosen: list[dict[str, Any]] = []
    for _ in range(q):
        pool = space.from_unit(candidates(space, best_points, n_candidates, generator))
        features = space.encode(pool)
        mean, std = gp.predict(features)
        pick = int(expected_improvement(mean, std, best, xi).argmax())
        chosen.append(pool[pick])
        gp = gp.condition(features[pick : pick + 1], mean[pick : pick + 1])
        best = max(best, float(mean[pick]))
    return chosen
