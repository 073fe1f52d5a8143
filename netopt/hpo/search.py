"""Random search and Bayesian optimization as ask-only strategies over a sweep's records.

A strategy has one method, ``ask(records) -> list[Job]``: the next batch of jobs given every
record so far (an empty list ends the sweep). It keeps no other state, so a sweep resumed from its
journal continues exactly where it stopped.

- Random search: trial i gets the i-th of n_trials points drawn i.i.d. from the space's
  distributions (uniform, log-uniform, integer, choice) with a fixed seed.
- Bayesian optimization (sequential model-based optimization): the first n_initial trials are a
  scrambled Sobol design; afterwards each round fits a GP to the finished trials and proposes q
  configurations by expected improvement (see :mod:`netopt.hpo.acquisition`). Failed and diverged
  trials enter the GP with the worst score observed, so the search steers away from them.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from netopt.checks import require_count
from netopt.hpo.acquisition import propose_batch
from netopt.hpo.space import SearchSpace
from netopt.hpo.trials import Job, Record, score


def _next_trial(records: Sequence[Record]) -> int:
    return max((r.trial for r in records), default=-1) + 1


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
        start = _next_trial(records)
        stop = min(self.n_trials, start + self.batch_size)
        return [Job(i, self.configs[i]) for i in range(start, stop)]


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
