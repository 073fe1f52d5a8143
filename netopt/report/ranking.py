"""Configurations ranked by the mean of a metric over seeds, in the metric's direction, with the ones
indistinguishable from the best shown as ties.

One ranking for every view of a sweep: the table printed at its end, ``best.yaml`` and the order of
``results.csv`` (:mod:`netopt.hpo.summary`) and the report (:mod:`netopt.report.sweep`). A
configuration's samples are its completed runs' finite values, one per distinct seed
(:func:`netopt.report.stats.per_seed`). The best has the best mean; every other is compared with it
(:func:`netopt.report.stats.difference`: paired by seed where they share seeds, Welch otherwise).
When the 95% interval of the difference holds 0, it is indistinguishable from the best and shares
rank 1; the others follow by mean, ranked by position. Configurations without a value come last.
"""

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

from netopt.report.stats import Difference, Estimate, difference, mean_ci, per_seed

Samples = Iterable[tuple[Hashable, float]]


@dataclass(frozen=True)
class Standing:
    """Where a configuration stands: its rank (1 for the best and its ties, None without a value),
    its estimate and its difference from the best (None for the best and those without a value)."""

    rank: int | None
    estimate: Estimate
    versus: Difference | None = None

    @property
    def tied(self) -> bool:
        """Indistinguishable from the best (the best itself included)."""
        return self.rank == 1

    @property
    def verdict(self) -> str:
        if self.rank is None:
            return "no value"
        if self.versus is None:
            return "best"
        if self.tied:
            return "indistinguishable from the best"
        return "worse than the best" if self.versus.has_interval else "too few seeds to compare"

    @property
    def shown_rank(self) -> str:
        """``1``, ``=1`` for a tie with the best, ``-`` without a value."""
        if self.rank is None:
            return "-"
        return "=1" if self.tied and self.versus is not None else str(self.rank)

    @property
    def versus_text(self) -> str:
        """The difference from the best as the tables show it."""
        if self.versus is None:
            return "best" if self.rank is not None else "-"
        return str(self.versus)


def rank(
    groups: Sequence[Samples], maximize: bool, bounds: tuple[float, float] | None = None
) -> list[tuple[int, Standing]]:
    """The groups' indices, best first, each with its standing; groups are (seed, value) pairs of
    completed runs, ``bounds`` the metric's range (:func:`netopt.metrics.natural_range`)."""
    samples = [per_seed(g) for g in groups]
    estimates = [mean_ci(s.values(), bounds, runs) for s, runs in samples]
    sign = 1.0 if maximize else -1.0
    valued = [i for i, e in enumerate(estimates) if not math.isnan(e.mean)]
    by_mean = sorted(valued, key=lambda i: -sign * estimates[i].mean)
    if not by_mean:
        return [(i, Standing(None, e)) for i, e in enumerate(estimates)]
    best = by_mean[0]
    versus = {i: difference(samples[best][0], samples[i][0]) for i in by_mean[1:]}
    ties = [i for i in by_mean[1:] if versus[i].indistinguishable]
    order = [best, *ties, *(i for i in by_mean[1:] if i not in ties)]
    standings = [
        (i, Standing(1 if i == best or i in ties else position, estimates[i], versus.get(i)))
        for position, i in enumerate(order, start=1)
    ]
    return standings + [(i, Standing(None, estimates[i])) for i in range(len(groups)) if i not in valued]
