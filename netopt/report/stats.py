"""The mean over seeds and its confidence interval."""

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t

LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """Mean of n finite values and the half-width of its confidence interval (NaN when n < 2)."""

    mean: float
    half_width: float
    n: int

    def __str__(self) -> str:
        if self.n == 0:
            return "-"
        return f"{self.mean:.3f}" if self.n == 1 else f"{self.mean:.3f} ± {self.half_width:.3f}"


def mean_ci(values: Iterable[float], level: float = LEVEL) -> Estimate:
    """Mean and Student-t interval of the finite values: x̄ ± t_{(1+level)/2, n-1} · s / √n,
    with s the sample standard deviation (n - 1 in the denominator). NaN and inf are left out."""
    x = np.asarray(list(values), dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return Estimate(math.nan, math.nan, 0)
    if n == 1:
        return Estimate(float(x[0]), math.nan, 1)
    half = student_t.ppf((1 + level) / 2, n - 1) * x.std(ddof=1) / math.sqrt(n)
    return Estimate(float(x.mean()), float(half), n)
