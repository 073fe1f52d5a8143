"""Time to target, performance profiles and the benchmark score, the AlgoPerf way (Dahl et al.,
"Benchmarking Neural Network Training Algorithms", 2023).

- Time to target of a run: the time (or step) of its first evaluation whose validation metric reaches
  the workload's target (``>=`` for a metric that improves upward, ``<=`` for one that improves
  downward); a run that never reaches it (or diverged) takes t = inf.
- Per submission s and workload w, t_{s,w} is the median over seeds (AlgoPerf's median over studies;
  with inf sorted last, so a miss in most seeds is a miss).
- Ratio to the best: r_{s,w} = t_{s,w} / min_s' t_{s',w}; inf when s misses, and inf for everyone on a
  workload nobody reaches.
- Performance profile: rho_s(tau) = |{w : r_{s,w} <= tau}| / |W|, a step function of tau
  (Dolan and Moré, "Benchmarking optimization software with performance profiles", 2002).
- Score: B_s = 1 / (r_max - 1) * integral_1^{r_max} rho_s(tau) dtau, r_max = 4. Integrated exactly,
  each workload adds max(0, r_max - r_{s,w}) / (r_max - 1) / |W| (r >= 1), so B is in [0, 1]: 1 when s
  is the fastest everywhere, 0 when it is never within r_max of the fastest.

Uncertainty: the seeds are resampled with replacement, the same draw for every submission and workload
(paired by seed: seed k is trial k of every submission), and every statistic recomputed; its 95%
interval is the 2.5 and 97.5 percentiles of the bootstrap (Efron and Tibshirani, "An Introduction to the
Bootstrap", 1993, percentile interval), since a median of ratios has no closed-form interval.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from netopt.report.stats import LEVEL

R_MAX = 4.0
BOOTSTRAP = 2000
INF = math.inf


def time_to_target(
    times: Sequence[float], values: Sequence[float], target: float, maximize: bool = True
) -> float:
    """The time (or step) of the first evaluation at or past ``target``; inf when none is."""
    for time, value in zip(times, values, strict=True):
        if math.isfinite(value) and (value >= target if maximize else value <= target):
            return float(time)
    return INF


def ratios(times: np.ndarray, best: np.ndarray | None = None) -> np.ndarray:
    """r[s, w] = t[s, w] / min_s t[s, w] for times (submissions, workloads), or over a given ``best``
    per workload; inf where t is inf, and in every row of a workload that no submission reaches."""
    best = times.min(axis=0, keepdims=True) if best is None else best.reshape(1, -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(np.isfinite(times) & np.isfinite(best), times / best, INF)
    return r


def profile(r: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """rho[s, i] = share of workloads w with r[s, w] <= taus[i], for ratios (submissions, workloads)."""
    return (r[:, :, None] <= taus[None, None, :]).mean(axis=1)


def score(r: np.ndarray, r_max: float = R_MAX) -> np.ndarray:
    """B[s] = 1 / (r_max - 1) * integral_1^r_max rho_s(tau) dtau, exactly (see the module docstring)."""
    return (np.clip(r_max - r, 0.0, None) / (r_max - 1)).mean(axis=1)


def median_times(per_seed: np.ndarray) -> np.ndarray:
    """t[s, w]: the median over seeds of per_seed (submissions, workloads, seeds), inf sorting last."""
    return np.median(per_seed, axis=2)


@dataclass(frozen=True)
class Interval:
    """A statistic and its bootstrap interval [low, high] (NaN with fewer than two seeds)."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        text = _number(self.value)
        return text if math.isnan(self.low) else f"{text} [{_number(self.low)}, {_number(self.high)}]"


@dataclass(frozen=True)
class Scores:
    """Every statistic of a benchmark with its interval: times and ratios (submissions, workloads),
    scores (submissions)."""

    submissions: list[str]
    workloads: list[str]
    times: list[list[Interval]]
    ratios: list[list[Interval]]
    scores: list[Interval]


def scores(
    per_seed: np.ndarray,
    submissions: Sequence[str],
    workloads: Sequence[str],
    r_max: float = R_MAX,
    resamples: int = BOOTSTRAP,
    seed: int = 0,
) -> Scores:
    """The times to target, ratios and scores of per_seed times (submissions, workloads, seeds), each with
    its paired bootstrap interval over seeds."""
    t = median_times(per_seed)
    r = ratios(t)
    b = score(r, r_max)
    n = per_seed.shape[2]
    if n < 2:
        boot_t = boot_r = np.full((0, *t.shape), np.nan)
        boot_b = np.full((0, len(b)), np.nan)
    else:
        draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
        boot_t = np.stack([median_times(per_seed[:, :, d]) for d in draws])
        boot_r = np.stack([ratios(x) for x in boot_t])
        boot_b = np.stack([score(x, r_max) for x in boot_r])
    return Scores(
        list(submissions),
        list(workloads),
        _intervals(t, boot_t),
        _intervals(r, boot_r),
        [_interval(v, boot_b[:, i]) for i, v in enumerate(b)],
    )


def per_seed_array(
    best: Mapping[tuple[str, str, int], float],
    submissions: Sequence[str],
    workloads: Sequence[str],
    seeds: Sequence[int],
) -> np.ndarray:
    """The array (submissions, workloads, seeds) of best[(submission, workload, seed)] (inf when absent)."""
    return np.array(
        [[[best.get((s, w, k), INF) for k in seeds] for w in workloads] for s in submissions], dtype=float
    ).reshape(len(submissions), len(workloads), len(seeds))


def _intervals(values: np.ndarray, boot: np.ndarray) -> list[list[Interval]]:
    return [[_interval(v, boot[:, i, j]) for j, v in enumerate(row)] for i, row in enumerate(values)]


def _interval(value: float, boot: np.ndarray) -> Interval:
    if len(boot) == 0:
        return Interval(float(value), math.nan, math.nan)
    tail = (1 - LEVEL) / 2 * 100  # nearest ranks, never between inf and a finite value
    low = np.percentile(boot, tail, method="lower")
    high = np.percentile(boot, 100 - tail, method="higher")
    return Interval(float(value), float(low), float(high))


def _number(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.3g}"
