"""Successive halving and Hyperband, with epochs as the resource.

Successive halving gives r epochs to n configurations, keeps the best floor(n / eta), trains those
to eta * r epochs, and so on until one reaches the maximum R. Hyperband runs several such brackets
that trade the number of configurations against the epochs each starts with. With
s_max = floor(log_eta(R / r_min)), bracket s = s_max, ..., 0 starts n = ceil((s_max + 1) eta^s / (s + 1))
configurations at r = R eta^-s epochs; its rung i keeps floor(n eta^-i) of them at r eta^i epochs.

A promoted trial continues from its own checkpoint, so a trial that reaches R epochs has trained R
epochs in total (budgets are totals, not increments). Brackets are independent, so every bracket's
current rung is asked for in the same round and parallel launchers stay busy (``batch_size`` caps a
round at that many jobs, e.g. the launcher's parallelism: the rest come in the next rounds).
Configurations are drawn at random from the space (trial i gets the i-th draw of a seeded generator).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from netopt.checks import require_count
from netopt.errors import UserError
from netopt.hpo.space import SearchSpace
from netopt.hpo.trials import Job, Record, ranked


@dataclass(frozen=True)
class Rung:
    """n configurations trained to a total of epochs epochs."""

    n: int
    epochs: int


def bracket_rungs(max_epochs: int, min_epochs: int, eta: int) -> list[list[Rung]]:
    """The rungs of every Hyperband bracket, most exploratory (s = s_max) first."""
    if eta < 2 or not 1 <= min_epochs <= max_epochs:
        raise UserError(
            f"hydra.sweeper: need eta >= 2 and 1 <= min_epochs <= max_epochs, got eta={eta}, "
            f"min_epochs={min_epochs}, max_epochs={max_epochs}"
        )
    s_max = int(math.floor(math.log(max_epochs / min_epochs) / math.log(eta) + 1e-9))
    brackets = []
    for s in range(s_max, -1, -1):
        n = math.ceil((s_max + 1) * eta**s / (s + 1))
        brackets.append([Rung(n // eta**i, max(1, round(max_epochs * eta ** (i - s)))) for i in range(s + 1)])
    return brackets


@dataclass
class Hyperband:
    """Hyperband over the first n_brackets brackets (1: successive halving; None: all); at most
    batch_size jobs a round (None: every job that can run)."""

    space: SearchSpace
    max_epochs: int = 9
    min_epochs: int = 1
    eta: int = 3
    n_brackets: int | None = None
    maximize: bool = True
    seed: int = 0
    batch_size: int | None = None

    def __post_init__(self) -> None:
        require_count(n_brackets=self.n_brackets, batch_size=self.batch_size)
        self.brackets = bracket_rungs(self.max_epochs, self.min_epochs, self.eta)[: self.n_brackets]
        self.first_trial = [0]
        for rungs in self.brackets:
            self.first_trial.append(self.first_trial[-1] + rungs[0].n)
        generator = torch.Generator().manual_seed(self.seed)
        self.configs = self.space.sample(self.first_trial[-1], generator)

    def ask(self, records: Sequence[Record]) -> list[Job]:
        results = {r.key: r for r in records if r.finished}
        params = {r.trial: r.params for r in records}  # as launched, should the space have changed
        jobs: list[Job] = []
        for b, rungs in enumerate(self.brackets):
            trials = list(range(self.first_trial[b], self.first_trial[b + 1]))
            for i, rung in enumerate(rungs):
                if i > 0:
                    previous = ranked([results[(t, rungs[i - 1].epochs)] for t in trials], self.maximize)
                    trials = [r.trial for r in previous[: rung.n] if r.status == "completed"]
                todo = [t for t in trials if (t, rung.epochs) not in results]
                if todo:
                    jobs += [
                        Job(t, params[t] if t in params else self.config(t, records), rung.epochs)
                        for t in todo
                    ]
                    break
        return jobs[: self.batch_size]

    def config(self, trial: int, records: Sequence[Record]) -> dict[str, Any]:
        """The configuration of a trial not launched yet: the trial-th random draw."""
        return self.configs[trial]

    def total_epochs(self) -> int:
        """Epochs the schedule trains when no trial stops early: each trial up to its last rung."""
        total = 0
        for rungs in self.brackets:
            stops = [rung.n - after.n for rung, after in zip(rungs[:-1], rungs[1:], strict=True)] + [
                rungs[-1].n
            ]
            total += sum(n * rung.epochs for n, rung in zip(stops, rungs, strict=True))
        return total
