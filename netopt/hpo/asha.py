"""Asynchronous successive halving (ASHA), with epochs as the resource.

Li et al. (2020, A System for Massively Parallel Hyperparameter Tuning): successive halving without
its barrier. Rung k trains a trial to r_k = R eta^(k - K) epochs in total (K = floor(log_eta(R /
r_min)), the rungs of Hyperband's most exploratory bracket). Whenever a worker frees up it takes,
from the highest rung down, a trial that is among the best floor(n_k / eta) of the n_k trials that
have finished rung k and has not been promoted yet, and trains it on to r_(k+1) epochs; when no
trial can be promoted it starts a new configuration at rung 0. A promotion never waits for a rung
to fill: a trial that is in the top 1/eta of the results so far moves on at once (the paper's price
for it is the occasional trial promoted that a full rung would have stopped).

A promoted trial continues from its own checkpoint, so budgets are totals, not increments. The
strategy keeps no state besides the records: trial i gets the i-th of n_trials configurations drawn
from the space with a seeded generator, and a sweep resumed from its journal asks again where it
stopped.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from netopt.checks import require_count
from netopt.hpo.hyperband import bracket_rungs
from netopt.hpo.space import SearchSpace
from netopt.hpo.trials import Job, Record, has_objective, ranked


def promotable(
    records: Sequence[Record], epochs: int, next_epochs: int, eta: int, maximize: bool
) -> list[Record]:
    """The trials of the rung of ``epochs`` that ASHA promotes to ``next_epochs`` now: among the best
    floor(n / eta) of the n finished there (failed and diverged ones count in n and rank last), those
    with an objective and no job at ``next_epochs`` yet; best first."""
    finished = [r for r in records if r.budget == epochs and r.finished]
    promoted = {r.trial for r in records if r.budget == next_epochs}
    top = ranked(finished, maximize)[: len(finished) // eta]
    return [r for r in top if has_objective(r) and r.trial not in promoted]


@dataclass
class ASHA:
    """ASHA over n_trials configurations, rungs from min_epochs to max_epochs by factors of eta."""

    space: SearchSpace
    max_epochs: int = 9
    min_epochs: int = 1
    eta: int = 3
    n_trials: int = 20
    maximize: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        require_count(n_trials=self.n_trials)
        self.rungs = [rung.epochs for rung in bracket_rungs(self.max_epochs, self.min_epochs, self.eta)[0]]
        generator = torch.Generator().manual_seed(self.seed)
        self.configs = self.space.sample(self.n_trials, generator)

    def ask(self, records: Sequence[Record]) -> list[Job]:
        """The job for the next free worker: the best promotion from the highest rung that has one,
        else a new configuration at rung 0; none when neither exists yet."""
        for k in range(len(self.rungs) - 2, -1, -1):
            ready = promotable(records, self.rungs[k], self.rungs[k + 1], self.eta, self.maximize)
            if ready:
                return [Job(ready[0].trial, dict(ready[0].params), self.rungs[k + 1])]
        started = {r.trial for r in records}
        new = next((t for t in range(self.n_trials) if t not in started), None)
        return [] if new is None else [Job(new, self.configs[new], self.rungs[0])]
