"""The anytime curve of a search: the best objective found against the epochs spent so far.

A search spends its epochs job by job, in launch order. A job trains its trial to a total of
``epochs`` epochs; a trial that Hyperband promoted continues from its checkpoint, so its job spends
only the epochs beyond those the trial had trained before. After job j the search has spent

    E_j = sum_{i <= j} spent_i   epochs,   and found   f*_j = best objective of its completed jobs i <= j

and the anytime curve is the step function e -> f*_j of the last job with E_j <= e: what the search
would have returned, had it been stopped after e epochs (the comparison of Li et al. 2018,
Hyperband: A Novel Bandit-Based Approach to Hyperparameter Optimization). A job that failed or
diverged spends its epochs and finds nothing.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from netopt.hpo.trials import Record, has_objective


def spent_epochs(records: Sequence[Record]) -> list[int]:
    """Epochs each job trained beyond what its trial had trained before it, in the given (launch) order.

    A job's epochs are its record's (the trained total), else its budget; a job that stopped before
    training (no epochs recorded, no budget) spent none."""
    trained: dict[int, int] = {}
    spent = []
    for r in records:
        total = r.epochs if r.epochs is not None else (r.budget or 0)
        before = trained.get(r.trial, 0)
        spent.append(max(total - before, 0))
        trained[r.trial] = max(total, before)
    return spent


@dataclass(frozen=True)
class Anytime:
    """After each job: the epochs spent so far (non-decreasing) and the best objective so far
    (NaN until a job completes)."""

    epochs: np.ndarray
    best: np.ndarray


def anytime(records: Sequence[Record], maximize: bool = True) -> Anytime:
    """The anytime curve of the jobs in records, taken in launch order."""
    epochs = np.cumsum(spent_epochs(records), dtype=float)
    values = np.array([r.objective if has_objective(r) else np.nan for r in records], dtype=float)
    sign = 1.0 if maximize else -1.0
    scores = np.where(np.isnan(values), -np.inf, sign * values)
    best = sign * np.maximum.accumulate(scores) if len(scores) else scores
    return Anytime(epochs, np.where(np.isinf(best), np.nan, best))


def best_within(curve: Anytime, budgets: Sequence[float] | np.ndarray) -> np.ndarray:
    """The best objective found with at most each budget of epochs spent (NaN before the first job
    that completed within it)."""
    last = np.searchsorted(curve.epochs, np.asarray(budgets, dtype=float), side="right") - 1
    found = curve.best[np.clip(last, 0, None)] if len(curve.best) else np.full(len(last), np.nan)
    return np.where(last >= 0, found, np.nan)
