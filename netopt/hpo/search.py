"""Grid search, random search and Bayesian optimization as ask-only strategies over a sweep's records.

A strategy has one method, ``ask(records) -> list[Job]``: the next batch of jobs given every
record so far (an empty list ends the sweep). It keeps no other state, so a sweep resumed from its
journal continues exactly where it stopped.

- Grid search: every combination of a few values per dimension, in row-major order (the last
  dimension varies fastest, as Hydra's basic sweeper orders a grid).
- Random search: trial i gets the i-th of n_trials points drawn i.i.d. from the space's
  distributions (uniform, log-uniform, integer, choice) with a fixed seed.
- Bayesian optimization (sequential model-based optimization): the first n_initial trials are a
  scrambled Sobol design; afterwards each round fits a GP to the finished trials and proposes q
  configurations by expected improvement (see :mod:`netopt.hpo.acquisition`). Failed and diverged
  trials enter the GP with the worst score observed, so the search steers away from them.
"""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from netopt.checks import require_count
from netopt.hpo.acquisition import propose_batch
from netopt.hpo.space import Choice, Dimension, SearchSpace
from netopt.hpo.trials import Job, Record, score


def _next_trial(records: Sequence[Record]) -> int:
    return max((r.trial for r in records), default=-1) + 1


def _ask_in_order(configs: Sequence[dict[str, Any]], records: Sequence[Record], batch_size: int) -> list[Job]:
    """The next batch_size of a fixed list of configurations."""
    start = _next_trial(records)
    stop = min(len(configs), start + batch_size)
    return [Job(i, configs[i]) for i in range(start, stop)]


@dataclass
class GridSearch:
    """The grid of points values per numeric dimension and every value of a choice, batch_size per round.

    A numeric dimension takes the centres of points equal cells of [0, 1), (i + 1/2) / points for
    i = 0 .. points - 1, mapped by the dimension (geometrically spaced on a log scale; an integer
    dimension rounds them, and repeated values are dropped), so the grid covers the same space as
    random search without its bounds. Bergstra & Bengio (2012, Random Search for Hyper-Parameter
    Optimization) compare the two at the same number of trials.
    """

    space: SearchSpace
    points: int = 3
    batch_size: int = 8

    def __post_init__(self) -> None:
        require_count(points=self.points, batch_size=self.batch_size)
        axes = [self.values(d) for d in self.space.dimensions]
        self.configs = [dict(zip(self.space.names, row, strict=True)) for row in itertools.product(*axes)]

    def values(self, dimension: Dimension) -> list[Any]:
        """The values the grid tries along one dimension."""
        if isinstance(dimension, Choice):
            return list(dimension.values)
        centres = (dimension.from_unit((i + 0.5) / self.points) for i in range(self.points))
        return list(dict.fromkeys(centres))

    @property
    def n_trials(self) -> int:
        return len(self.configs)

    def ask(self, records: Sequence[Record]) -> list[Job]:
        return _ask_in_order(self.configs, records, self.batch_size)


@dataclass
class RandomSearch:
    """n_trials i.i.d. configurations, batch_size per round."""

    space: SearchSpace
    n_trials: int
    batch_size: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        generator = torch.Generator().manual_seed(self.seed)
        require_count(n_trials=self.n_trials, batch_size=self.batch_size)
        self.configs = self.space.sample(self.n_trials, generator)

    def ask(self, records: Sequence[Record]) -> list[Job]:
        return _ask_in_order(self.configs, records, self.batch_size)


@dataclass
class BayesSearch:
    """GP + expected improvement after a Sobol design of n_initial points; q = batch_size per round."""

    space: SearchSpace
    n_trials: int
    batch_size: int = 4
    n_initial: int = 8
    maximize: bool = True
    seed: int = 0
    n_candidates: int = 2048
    xi: float = 0.0

    def __post_init__(self) -> None:
        require_count(n_trials=self.n_trials, batch_size=self.batch_size, n_initial=self.n_initial)
        require_count(n_candidates=self.n_candidates)
        engine = torch.quasirandom.SobolEngine(len(self.space), scramble=True, seed=self.seed)
        self.design = self.space.from_unit(engine.draw(self.n_initial, dtype=torch.float64))

    def ask(self, records: Sequence[Record]) -> list[Job]:
        start = _next_trial(records)
        if start < self.n_initial:
            stop = min(self.n_initial, self.n_trials, start + self.batch_size)
            return [Job(i, self.design[i]) for i in range(start, stop)]
        q = min(self.batch_size, self.n_trials - start)
        if q <= 0:
            return []
        generator = torch.Generator().manual_seed(self.seed * 100_003 + start)
        configs, scores = self._observations(records)
        if len(configs) < 2:  # nothing to model yet: sample at random
            proposals = self.space.sample(q, generator)
        else:
            proposals = propose_batch(self.space, configs, scores, q, generator, self.n_candidates, self.xi)
        return [Job(start + j, c) for j, c in enumerate(proposals)]

    def _observations(self, records: Sequence[Record]) -> tuple[list[dict], torch.Tensor]:
        """Configs and scores of finished trials; failed ones get the worst completed score."""
        finished = [r for r in records if r.finished]
        completed = [score(r, self.maximize) for r in finished if r.status == "completed"]
        if not completed:
            return [], torch.empty(0, dtype=torch.float64)
        worst = min(completed)
        scores = [score(r, self.maximize) if r.status == "completed" else worst for r in finished]
        return [r.params for r in finished], torch.tensor(scores, dtype=torch.float64)
