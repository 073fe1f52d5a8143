"""BOHB: Hyperband whose new configurations come from a model of the results so far.

Falkner et al. (2018, BOHB: Robust and Efficient Hyperparameter Optimization at Scale) keep
Hyperband's brackets and promotions (:mod:`netopt.hpo.hyperband`) and replace its random draws: a
new trial takes, with probability ``random_fraction``, the random configuration Hyperband would
have given it; otherwise the TPE proposal (:func:`netopt.hpo.tpe.propose`) fitted to the results at
the largest budget b that has at least min_points + 2 of them (min_points = d + 1 by default), so
the model learns from the cheap rungs first and from the long runs once enough have finished. A
failed or diverged trial is observed with the worst score. Trial t's proposal uses a generator
seeded by (seed, t), so a sweep resumed from its journal proposes alike; a launched trial keeps the
configuration its journal records.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from netopt.hpo.hyperband import Hyperband
from netopt.hpo.tpe import propose
from netopt.hpo.trials import Record, has_objective, score


@dataclass
class BOHB(Hyperband):
    """Hyperband with TPE proposals (see the module docstring)."""

    random_fraction: float = 1 / 3
    top_fraction: float = 0.15
    min_points: int | None = None
    n_candidates: int = 64
    bandwidth_factor: float = 3.0

    def config(self, trial: int, records: Sequence[Record]) -> dict[str, Any]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + trial)
        observed = self.observations(records)
        if observed is None or torch.rand((), generator=generator) < self.random_fraction:
            return super().config(trial, records)
        configs, scores = observed
        point = propose(
            self.space,
            self.space.to_unit(configs),
            torch.tensor(scores, dtype=torch.float64),
            generator,
            self.top_fraction,
            self.min_points,
            self.n_candidates,
            self.bandwidth_factor,
        )
        return self.space.from_unit(point[None])[0]

    def observations(self, records: Sequence[Record]) -> tuple[list[dict], list[float]] | None:
        """Configurations and scores at the largest budget with enough finished trials; None while
        no budget has."""
        least = (self.min_points or len(self.space) + 1) + 2
        budgets = sorted({r.budget for r in records if r.finished and r.budget is not None}, reverse=True)
        for budget in budgets:
            finished = [r for r in records if r.budget == budget and r.finished]
            if len(finished) >= least:
                scores = [score(r, self.maximize) if has_objective(r) else -math.inf for r in finished]
                return [r.params for r in finished], scores
        return None
