"""Configurations: the runs of a sweep grouped by their overrides without the seed.

Every configuration is named by the keys whose value differs between configurations (its label,
e.g. ``optimizer=adam, lr=0.01``). A key a configuration does not override shows the value its runs
used (the config group's option or the config's field). Final metrics are estimated over the runs
that completed, one sample per distinct seed (:mod:`netopt.report.stats`); the others are counted
by status, never dropped. :func:`ranked` orders them as :mod:`netopt.report.ranking` does.
"""

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from netopt.labels import UNSET, label, short_names, varying_keys
from netopt.metrics import natural_range
from netopt.report.ranking import Standing, rank
from netopt.report.records import RunRecord
from netopt.report.stats import Estimate, estimate

STATUSES = ("completed", "diverged", "failed", "interrupted")


@dataclass(frozen=True)
class Config:
    """One configuration: its parameters (every key any configuration sets), runs and label."""

    params: dict[str, str]
    runs: list[RunRecord]
    label: str

    def samples(self, metric: str) -> list[tuple[Any, float]]:
        """(seed, value) of the metric in each completed run."""
        return [(_hashable(r.seed), r.number(metric)) for r in self.runs if r.status == "completed"]

    def estimate(self, metric: str) -> Estimate:
        """Mean and 95% interval of a metric over the completed runs' distinct seeds, on its scale."""
        return estimate(self.samples(metric), natural_range(metric))

    def statuses(self) -> str:
        """The runs by status, and the distinct seeds when fewer than the completed runs:
        ``3 completed (1 distinct seed)``."""
        counted = statuses(self.runs)
        done = [r for r in self.runs if r.status == "completed"]
        seeds = len({_hashable(r.seed) for r in done})
        if seeds < len(done):
            counted += f" ({seeds} distinct seed{'' if seeds == 1 else 's'})"
        return counted

    @property
    def all_completed(self) -> bool:
        return all(r.status == "completed" for r in self.runs)


def group(runs: Sequence[RunRecord]) -> tuple[list[Config], dict[str, str]]:
    """The configurations in order of first appearance, and the varying keys with their short names."""
    groups: dict[tuple[tuple[str, str], ...], list[RunRecord]] = {}
    for run in runs:
        groups.setdefault(tuple(sorted(run.params.items())), []).append(run)
    keys = list(dict.fromkeys(k for run in runs for k in run.params))
    params = [{k: _shown(members, k) for k in keys} for members in groups.values()]
    names = short_names(varying_keys(params))
    configs = [
        Config(p, members, _label(p, names)) for p, members in zip(params, groups.values(), strict=True)
    ]
    return configs, names


def statuses(runs: Sequence[RunRecord]) -> str:
    """The runs counted by status: ``2 completed, 1 diverged``."""
    counts = Counter(r.status for r in runs)
    order = [*STATUSES, *sorted(set(counts) - set(STATUSES))]
    return ", ".join(f"{counts[s]} {s}" for s in order if counts[s])


def ranked(configs: Sequence[Config], metric: str, maximize: bool = True) -> list[tuple[Config, Standing]]:
    """The configurations best first by the mean of the metric in its direction, each with its
    standing (:func:`netopt.report.ranking.rank`); those without a finite value last, in their order."""
    order = rank([c.samples(metric) for c in configs], maximize, natural_range(metric))
    return [(configs[i], standing) for i, standing in order]


def _label(params: dict[str, str], names: dict[str, str]) -> str:
    """By the varying keys; a lone configuration by all its overrides."""
    return label(params, names or {k: k for k in params}) or "defaults"


def _hashable(seed: Any) -> Any:
    return seed if isinstance(seed, Hashable) else str(seed)


def _shown(runs: list[RunRecord], key: str) -> str:
    value = runs[0].value(key)
    return UNSET if value is None else str(value)
