"""The effect of a claim: left - right (or left - a number) estimated over seeds, with its 95% interval.

Between two sides (:func:`between`) it is :func:`~netopt.report.stats.difference`: paired by seed
where the sides share seeds, Welch's otherwise, exact when every seed repeats one value; against a
number (:func:`against`) the interval of the left mean on the metric's scale
(:func:`~netopt.report.stats.mean_ci`) minus the number.
"""

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from netopt.report.stats import LEVEL, difference, mean_ci


@dataclass(frozen=True)
class Effect:
    """left - right: its estimate and 95% interval [low, high] (NaN without one), the samples behind
    it and how the interval was computed."""

    mean: float
    low: float
    high: float
    n: int
    method: str

    @property
    def has_interval(self) -> bool:
        return not math.isnan(self.low)

    def as_dict(self) -> dict[str, Any]:
        interval = self.has_interval
        return {
            "mean": self.mean,
            "low": self.low if interval else None,
            "high": self.high if interval else None,
            "n": self.n,
            "method": self.method,
        }

    def __str__(self) -> str:
        text = signed(self.mean)
        if self.has_interval and self.low != self.high:
            text += f" [{signed(self.low)}, {signed(self.high)}]"
        return f"{text} ({self.method})"


def between(left: Mapping[Hashable, float], right: Mapping[Hashable, float]) -> Effect:
    """left - right of two sides' samples by seed."""
    d = difference(dict(right), dict(left))
    nl, nr = len(left), len(right)
    how = f"paired over {d.paired} seeds" if d.paired else f"Welch, n={nl} and {nr}"
    if not d.has_interval:
        how = f"n={nl} and {nr}: too few seeds for an interval"
    elif d.low == d.high:
        how = f"exact: every seed gave the same {'difference' if d.paired else 'values'}"
    return Effect(d.mean, d.low, d.high, d.paired or min(d.n), how)


def against(left: Mapping[Hashable, float], c: float, bounds: tuple[float, float] | None) -> Effect:
    """left - c of one side's samples and a number; ``bounds`` is the metric's range."""
    est = mean_ci(left.values(), bounds)
    if est.duplicates:
        return Effect(est.mean - c, est.mean - c, est.mean - c, est.n, f"exact: identical over {est.n} seeds")
    if not est.has_interval:
        return Effect(est.mean - c, math.nan, math.nan, est.n, f"n={est.n}: too few seeds for an interval")
    return Effect(
        est.mean - c, est.low - c, est.high - c, est.n, f"{LEVEL:.0%} interval of the mean, n={est.n}"
    )


def number(value: float) -> str:
    """Four decimals (accuracies, losses of order one); four significant digits for values far from one."""
    return f"{value:.4f}" if value == 0 or 1e-3 <= abs(value) < 1e4 else f"{value:.4g}"


def signed(value: float) -> str:
    return ("+" if value >= 0 else "-") + number(abs(value))
