"""Population-based training (PBT): a population that copies its best members and perturbs them.

Jaderberg et al. (2017, Population Based Training of Neural Networks): ``population`` trials train
side by side; every ``interval`` epochs (a generation) each member is ranked among the members at
the same epoch. A member in the bottom ``quantile`` exploits: it continues from the checkpoint of a
member of the top ``quantile`` (drawn at random) instead of its own, and explores: it takes that
member's hyperparameters, each numeric one multiplied by 0.8 or 1.2 (clipped to its range) or, with
probability ``resample_probability``, drawn afresh from its prior, as a choice is. The others go on
with their own checkpoint and values. A member that failed or diverged ranks last, so it is replaced
at the next generation. The values a member trained with, generation by generation, are a
hyperparameter schedule found by the search.

With ``barrier`` (the default) generations are synchronous: generation g + 1 starts once every
member has reported at the end of generation g (so every donor's checkpoint is at the same epoch),
and its forks are asked for first, so each copies its donor's checkpoint (:mod:`netopt.hpo.fork`)
before the donor trains on. Without it a member decides as soon as it reports, as Jaderberg et al.
describe ("asynchronous" PBT): it is ranked among the members that have reported at the same epoch
so far, once at least 1 / quantile of them have (before that it goes on with its own values; one
that failed or diverged, and so has nothing to go on from, waits for a member that completed that
epoch), and a donor is one of the top quantile of those; the fork copies the donor's checkpoint as
it was at that epoch (the copy :func:`netopt.hpo.fork.keep` made when its job ended), whatever the
donor trained since. Member m's draws in generation g use a generator seeded by (seed, m, g), so a
sweep resumed from its journal decides alike.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from netopt.checks import require_count
from netopt.errors import UserError
from netopt.hpo.space import Choice, Dimension, Integer, SearchSpace
from netopt.hpo.trials import Job, Record, ranked

FACTORS = (0.8, 1.2)


@dataclass
class PBT:
    """PBT of ``population`` members for max_epochs epochs, exploiting every ``interval`` epochs."""

    space: SearchSpace
    population: int = 8
    interval: int = 2
    max_epochs: int = 10
    quantile: float = 0.25
    resample_probability: float = 0.25
    maximize: bool = True
    seed: int = 0
    barrier: bool = True

    def __post_init__(self) -> None:
        require_count(population=self.population, interval=self.interval, max_epochs=self.max_epochs)
        if not 0 < self.quantile <= 0.5:
            raise UserError(f"hydra.sweeper.quantile={self.quantile}: must be in (0, 0.5]")
        self.budgets = list(range(self.interval, self.max_epochs, self.interval)) + [self.max_epochs]
        self.configs = self.space.sample(self.population, torch.Generator().manual_seed(self.seed))

    def ask(self, records: Sequence[Record]) -> list[Job]:
        """Every member's job of the first generation not everyone has started; none while the
        generation before it has not ended. Without a barrier: the next job of every member whose
        last job has ended."""
        at = {(r.trial, r.budget): r for r in records}
        if not self.barrier:
            return self.ask_each(records, at)
        for g, budget in enumerate(self.budgets):
            todo = [m for m in range(self.population) if (m, budget) not in at]
            if todo:
                if g == 0:
                    return [Job(m, self.configs[m], budget) for m in todo]
                before = [at.get((m, self.budgets[g - 1])) for m in range(self.population)]
                if any(r is None or not r.finished for r in before):
                    return []
                jobs = [self.next_job(m, g, [r for r in before if r is not None]) for m in todo]
                return sorted(jobs, key=lambda j: j.parent is None)  # forks first: see the docstring
        return []

    def ask_each(self, records: Sequence[Record], at: dict[tuple[int, int | None], Record]) -> list[Job]:
        """The next job of each member whose last job has ended, ranked among the members that have
        reported at its epoch so far (see the module docstring); forks first."""
        jobs = []
        for m in range(self.population):
            g = next((g for g, budget in enumerate(self.budgets) if (m, budget) not in at), None)
            if g == 0:
                jobs.append(Job(m, self.configs[m], self.budgets[0]))
            elif g is not None and at[(m, self.budgets[g - 1])].finished:
                mine = at[(m, self.budgets[g - 1])]
                peers = [r for r in records if r.budget == mine.budget and r.finished]
                if mine.status != "completed":  # nothing of its own to go on from: a donor or wait
                    if any(r.status == "completed" for r in peers):
                        jobs.append(self.next_job(m, g, peers))
                    continue
                if len(peers) * self.quantile < 1:  # too few for a quantile: on with its own values
                    peers = [mine]
                jobs.append(self.next_job(m, g, peers))
        return sorted(jobs, key=lambda j: j.parent is None)

    def next_job(self, member: int, generation: int, before: list[Record]) -> Job:
        """Member ``member``'s job of generation ``generation`` given every member's record of the
        generation before: exploit and explore when it ranks in the bottom quantile."""
        order = ranked(before, self.maximize)
        cut = max(1, math.floor(self.quantile * len(order)))
        top = [r for r in order[:cut] if r.status == "completed"]
        mine = next(r for r in before if r.trial == member)
        budget = self.budgets[generation]
        if not top or mine not in order[-cut:] or mine in top:
            return Job(member, dict(mine.params), budget)
        generator = torch.Generator().manual_seed((self.seed * 1_000_003 + member) * 10_007 + generation)
        donor = top[int(torch.randint(len(top), (), generator=generator))]
        return Job(member, self.explore(donor.params, generator), budget, parent=donor.trial)

    def explore(self, params: dict[str, Any], generator: torch.Generator) -> dict[str, Any]:
        """The donor's values perturbed (see the module docstring)."""
        return {d.name: self.perturb(d, params[d.name], generator) for d in self.space.dimensions}

    def perturb(self, dimension: Dimension, value: Any, generator: torch.Generator) -> Any:
        """One value explored: drawn afresh with probability resample_probability, else a choice kept
        and a number multiplied by 0.8 or 1.2 (clipped to its range, an integer onto its grid)."""
        if float(torch.rand((), generator=generator)) < self.resample_probability:
            return dimension.from_unit(float(torch.rand((), generator=generator)))
        if isinstance(dimension, Choice):
            return value
        factor = FACTORS[int(torch.randint(2, (), generator=generator))]
        moved = min(max(value * factor, dimension.low), dimension.high)
        return (
            dimension.from_unit(dimension.to_unit(round(moved))) if isinstance(dimension, Integer) else moved
        )
