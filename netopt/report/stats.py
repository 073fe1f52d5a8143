"""The mean of a metric over seeds with its 95% interval on the metric's scale, and the difference
between two configurations.

A sample is one distinct seed: runs of one configuration with the same seed are one sample (their
mean), never counted as independent (:func:`per_seed`). The interval of a mean over n samples:

- unbounded metric (a loss): Student t, x̄ ± t_{0.975, n-1} · s / √n, s the sample standard deviation;
- bounded metric in [a, b] (an accuracy, a fraction: :func:`netopt.metrics.natural_range`): the
  t-interval of z = logit((x - a) / (b - a)) transformed back, a + (b - a) · σ(z̄ ± t_{0.975, n-1} ·
  s_z / √n), which stays inside the range (an interval computed on a transformed scale, as in
  Bland and Altman, "Transformations, means, and confidence intervals", BMJ 1996); a value on a bound
  is moved :data:`EDGE` of the range inside it. Values outside the range get the plain t-interval;
- n = 2: too few for an interval (with t_{0.975, 1} = 12.7 it spans most of any range); n = 1: none;
- samples that are all equal (n ≥ 2): no spread, the runs are deterministic duplicates.

The difference other - best of two configurations (:func:`difference`) is paired by seed when they
share at least :data:`MIN_SAMPLES` seeds: the t-interval of the mean of d_i = other_i - best_i over
the shared seeds; two sides that each repeat one value over several seeds (deterministic runs) differ
exactly; otherwise Welch's, x̄_o - x̄_b ± t_{0.975, ν} · √(s_o²/n_o + s_b²/n_b) with ν by
Welch-Satterthwaite (Welch, "The generalization of Student's problem when several different
population variances are involved", Biometrika 1947).
"""

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t

LEVEL = 0.95
#: The fewest samples that get an interval.
MIN_SAMPLES = 3
#: How far inside its range a value on a bound is moved before the logit, as a share of the range.
EDGE = 1e-3
#: Method names, as the report states them.
METHOD = {
    False: f"{LEVEL:.0%} Student-t interval",
    True: f"{LEVEL:.0%} Student-t interval of the logit, transformed back (Bland and Altman, BMJ 1996)",
}


@dataclass(frozen=True)
class Estimate:
    """The mean of n samples (distinct seeds) of ``runs`` runs, and its interval [low, high] (NaN
    without one: n < :data:`MIN_SAMPLES`, or no spread)."""

    mean: float
    low: float
    high: float
    n: int
    runs: int
    spread: bool  # whether the samples differ

    @property
    def has_interval(self) -> bool:
        return not math.isnan(self.low)

    @property
    def duplicates(self) -> bool:
        """Whether the samples are deterministic duplicates: several seeds, one result."""
        return self.n >= 2 and not self.spread

    @property
    def errors(self) -> tuple[float, float]:
        """The distances from the mean down to low and up to high (0 without an interval), for error bars."""
        if not self.has_interval:
            return 0.0, 0.0
        return max(0.0, self.mean - self.low), max(0.0, self.high - self.mean)

    @property
    def half_width(self) -> float:
        """Half the interval's width (NaN without one)."""
        return (self.high - self.low) / 2

    def __str__(self) -> str:
        if self.n == 0:
            return "-"
        if self.duplicates:
            return f"{self.mean:.3f} (identical over {self.n} seeds)"
        if self.n < MIN_SAMPLES:
            return f"{self.mean:.3f}" if self.n == 1 else f"{self.mean:.3f} (n=2: too few for a CI)"
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class Difference:
    """other - best: its mean, interval [low, high] (NaN without one), pairs (0: Welch), samples."""

    mean: float
    low: float
    high: float
    paired: int
    n: tuple[int, int]

    @property
    def has_interval(self) -> bool:
        return not math.isnan(self.low)

    @property
    def indistinguishable(self) -> bool:
        """Whether 0 lies in the interval (or both sides are the same single value)."""
        return self.low <= 0.0 <= self.high if self.has_interval else self.mean == 0.0

    def __str__(self) -> str:
        text = f"{self.mean:+.3f}"
        if not self.has_interval:
            return f"{text} (too few seeds to compare)"
        how = f"paired over {self.paired} seeds" if self.paired else "Welch"
        return f"{text} [{self.low:+.3f}, {self.high:+.3f}], {how}"


def per_seed(pairs: Iterable[tuple[Hashable, float]]) -> tuple[dict[Hashable, float], int]:
    """The samples by seed (the mean of the finite values of each seed) and the number of runs behind them."""
    values: dict[Hashable, list[float]] = {}
    runs = 0
    for seed, value in pairs:
        if math.isfinite(value):
            values.setdefault(seed, []).append(value)
            runs += 1
    return {seed: float(np.mean(v)) for seed, v in values.items()}, runs


def mean_ci(
    values: Iterable[float], bounds: tuple[float, float] | None = None, runs: int | None = None
) -> Estimate:
    """The mean of the finite values (each one sample) and its interval (see the module docstring);
    NaN and inf are left out. ``bounds`` is the metric's range; ``runs`` the runs behind the values."""
    x = np.asarray(list(values), dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    spread = n >= 2 and not np.allclose(x, x[0], rtol=1e-12, atol=0.0)
    low = high = math.nan
    if n >= MIN_SAMPLES and spread:
        inside = bounds is not None and bool(((x >= bounds[0]) & (x <= bounds[1])).all())
        if inside:
            assert bounds is not None
            a, b = bounds
            edge = EDGE * (b - a)
            z = _logit((np.clip(x, a + edge, b - edge) - a) / (b - a))
            low, high = (a + (b - a) * _sigmoid(v) for v in _t_interval(z))
        else:
            low, high = _t_interval(x)
    return Estimate(mean, low, high, n, n if runs is None else runs, spread)


def estimate(pairs: Iterable[tuple[Hashable, float]], bounds: tuple[float, float] | None = None) -> Estimate:
    """The estimate over seeds of (seed, value) pairs: runs with the same seed are one sample."""
    samples, runs = per_seed(pairs)
    return mean_ci(samples.values(), bounds, runs)


def difference(best: dict[Hashable, float], other: dict[Hashable, float]) -> Difference:
    """other - best, of two configurations' samples by seed (:func:`per_seed`); see the module docstring."""
    shared = [s for s in best if s in other]
    mean = float(np.mean(list(other.values())) - np.mean(list(best.values())))
    n = (len(best), len(other))
    if len(shared) >= MIN_SAMPLES:
        d = np.array([other[s] - best[s] for s in shared])
        low, high = _t_interval(d) if np.ptp(d) > 0 else (float(d[0]), float(d[0]))
        return Difference(float(d.mean()), low, high, len(shared), n)
    a, b = np.array(list(best.values())), np.array(list(other.values()))
    if min(n) >= 2 and np.ptp(a) == 0 and np.ptp(b) == 0:  # deterministic duplicates: exact
        return Difference(mean, mean, mean, 0, n)
    if min(n) < MIN_SAMPLES:
        return Difference(mean, math.nan, math.nan, 0, n)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = student_t.ppf((1 + LEVEL) / 2, dof) * math.sqrt(va + vb)
    return Difference(mean, mean - half, mean + half, 0, n)


def _t_interval(x: np.ndarray) -> tuple[float, float]:
    half = student_t.ppf((1 + LEVEL) / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))
