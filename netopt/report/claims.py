"""Claims about a set of run records, judged by the 95% interval of their effect.

A claim compares a metric between two sets of runs (or a set and a number)::

    statement: "Batch norm trains at lr 1.0 where no normalization cannot"
    metric: test_acc                        # a metrics.json key
    left: {norm: batch, optimizer.lr: 1.0}  # the runs whose value of every given key matches
    op: ">"                                 # one of > >= < <=
    right: {norm: none, optimizer.lr: 1.0}  # a selector like left, or a number
    margin: 0.1                             # > >=: left - right above +margin; < <=: below -margin
    diverged_as: 0.1                        # optional: the value a run that diverged counts as
    caveat: "why it may fail at this scale" # optional: shown with the numbers unless it holds
    by_construction: "why it cannot fail"   # optional: an identity or a deterministic demonstration

A run matches a selector as :mod:`netopt.report.selection` says (its settings, what it used, its
seed; numbers compared as numbers). A side's samples are its seeds:
the value of a seed is the ``reduce`` (the mean, or the min or max) of the metric over the completed
runs of that seed the side selects, so ``reduce: min`` over three learning rates is each seed's worst
lr. A run that diverged counts as ``diverged_as`` when that is given (chance accuracy, say) and is left
out otherwise. Besides the metrics.json keys, ``metric`` may be ``diverged`` (1 for a run that
diverged, 0 else) or ``<column>@<epoch>``, a per-epoch column (epochs.csv) after that epoch.

The effect is left - right (:func:`~netopt.report.stats.difference`: paired by seed where the sides
share seeds, Welch's otherwise), or left - the number (the interval of the left mean,
:func:`~netopt.report.stats.mean_ci`), with its 95% interval [low, high]. With the bound b = +margin
for > and >=, -margin for < and <=, the verdict is

- **holds** when the whole interval is on the claimed side of b (low > b for >, high < b for <);
- **does not hold** when the whole interval is on the other side;
- **inconclusive** when the interval contains b, or there are too few seeds for an interval (fewer
  than :data:`~netopt.report.stats.MIN_SAMPLES`), unless every seed gave the same value (the runs
  are deterministic: the effect is exact);
- **undecided** when a side has no value (no run matches, or none completed);
- **by construction** when the claim declares why it cannot fail (a mathematical identity of the
  update, a deterministic demonstration) and its numbers agree: shown, not counted as evidence.
  Numbers that disagree with such a claim give **does not hold**: the implementation is wrong.

A ``caveat``, the preset's explanation of why the claim may not hold at its scale, never decides the
verdict: it is only added to the numbers of a claim that does not hold or is inconclusive.
"""

import math
import operator
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from netopt.errors import UserError
from netopt.metrics import natural_range
from netopt.report.configs import statuses
from netopt.report.effects import Effect, against, between, number, signed
from netopt.report.records import RunRecord
from netopt.report.selection import canonical, matches

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
REDUCTIONS: dict[str, Callable[[np.ndarray], float]] = {
    "mean": lambda x: float(np.mean(x)),
    "min": lambda x: float(np.min(x)),
    "max": lambda x: float(np.max(x)),
}
KEYS = (
    "statement",
    "metric",
    "left",
    "op",
    "right",
    "margin",
    "reduce",
    "diverged_as",
    "caveat",
    "by_construction",
)
#: The verdicts, in the order a summary counts them.
VERDICTS = ("holds", "does not hold", "inconclusive", "by construction", "undecided")


@dataclass(frozen=True)
class Claim:
    """``left - right`` (or ``left - number``) on the side of ``op`` of ±margin (+ for > and >=, - for
    < and <=), judged by its interval (see the module docstring)."""

    statement: str
    metric: str
    left: dict[str, Any]
    op: str
    right: dict[str, Any] | float
    margin: float = 0.0
    reduce: str = "mean"
    diverged_as: float | None = None
    caveat: str = ""
    by_construction: str = ""

    @property
    def bound(self) -> float:
        """The effect's threshold: +margin for > and >=, -margin for < and <=."""
        return self.margin if self.op.startswith(">") else -self.margin

    @classmethod
    def parse(cls, raw: Mapping[str, Any], where: str) -> "Claim":
        """A claim from its mapping; where (e.g. ``claims[0]``) names it in errors."""
        unknown = set(raw) - set(KEYS)
        missing = {"statement", "metric", "left", "op", "right"} - set(raw)
        if unknown or missing:
            problem = f"unknown keys {sorted(unknown)}" if unknown else f"missing keys {sorted(missing)}"
            raise UserError(f"{where}: {problem}; a claim has {', '.join(KEYS)}")
        if raw["op"] not in OPS:
            raise UserError(f"{where}.op={raw['op']}: must be one of {', '.join(OPS)}")
        if raw.get("reduce", "mean") not in REDUCTIONS:
            raise UserError(f"{where}.reduce={raw['reduce']}: must be one of {', '.join(REDUCTIONS)}")
        for side in ("left", "right"):
            value = raw[side]
            if not isinstance(value, Mapping) and (side == "left" or not _isnumber(value)):
                allowed = "a selector mapping" + (" or a number" if side == "right" else "")
                raise UserError(f"{where}.{side}={value!r}: must be {allowed}")
        right = dict(raw["right"]) if isinstance(raw["right"], Mapping) else float(raw["right"])
        return cls(
            statement=str(raw["statement"]),
            metric=str(raw["metric"]),
            left=dict(raw["left"]),
            op=raw["op"],
            right=right,
            margin=float(raw.get("margin", 0.0)),
            reduce=raw.get("reduce", "mean"),
            diverged_as=None if raw.get("diverged_as") is None else float(raw["diverged_as"]),
            caveat=str(raw.get("caveat") or ""),
            by_construction=str(raw.get("by_construction") or ""),
        )


@dataclass(frozen=True)
class Side:
    """One side of a claim: its selector (None for a number), the mean of its samples (one per seed),
    their number n, the runs behind them, and why it has no value."""

    select: dict[str, Any] | None
    value: float
    n: int
    runs: int
    samples: dict[Hashable, float]
    why: str = ""

    def __str__(self) -> str:
        if self.select is None:
            return f"{self.value:g}"
        return f"{number(self.value)} (n={self.n})" if self.n else "no value"


@dataclass(frozen=True)
class Verdict:
    """A claim judged: both sides, the effect, the verdict and the numbers (or why it is undecided)."""

    claim: Claim
    left: Side
    right: Side
    effect: Effect | None
    verdict: str  # one of VERDICTS
    reason: str

    def as_dict(self) -> dict[str, Any]:
        c, e = self.claim, self.effect
        return {
            "statement": c.statement,
            "metric": c.metric,
            "op": c.op,
            "margin": c.margin,
            "bound": c.bound,
            "reduce": c.reduce,
            "diverged_as": c.diverged_as,
            "by_construction": c.by_construction or None,
            "left": _side_dict(self.left),
            "right": _side_dict(self.right),
            "effect": None if e is None else e.as_dict(),
            "verdict": self.verdict,
            "reason": self.reason,
        }


def judge(claim: Claim, records: Sequence[RunRecord]) -> Verdict:
    """The verdict of a claim on these records (see the module docstring)."""
    left = _side(claim, claim.left, records)
    right = (
        _side(claim, claim.right, records)
        if isinstance(claim.right, dict)
        else Side(None, claim.right, 0, 0, {})
    )
    missing = [f"{name}: {s.why}" for name, s in (("left", left), ("right", right)) if s.why]
    if missing:
        return Verdict(claim, left, right, None, "undecided", "; ".join(missing))
    effect = _effect(claim, left, right)
    verdict = _decide(claim, effect)
    side = f"{claim.op} {signed(claim.bound)}"
    reason = f"{claim.metric}, left - right: {effect}; left {left}, right {right}; claimed {side}"
    if verdict == "by construction":
        reason += f". Cannot fail: {claim.by_construction}"
    elif verdict != "holds" and claim.caveat:
        reason += f". At this scale: {claim.caveat}"
    return Verdict(claim, left, right, effect, verdict, reason)


def counts(verdicts: Sequence[Verdict] | Sequence[Mapping[str, Any]]) -> str:
    """How many claims got each verdict, e.g. ``3 hold, 1 does not hold, 2 inconclusive``."""
    names = [v.verdict if isinstance(v, Verdict) else v["verdict"] for v in verdicts]
    words = {"holds": "hold", "does not hold": "do not hold"}
    parts = []
    for verdict in VERDICTS:
        n = names.count(verdict)
        if n:
            parts.append(f"{n} {words.get(verdict, verdict) if n > 1 else verdict}")
    return ", ".join(parts) or "no claims"


def _effect(claim: Claim, left: Side, right: Side) -> Effect:
    """left - right with its interval: between two sides, or against a number."""
    if right.select is not None:
        return between(left.samples, right.samples)
    return against(left.samples, right.value, natural_range(claim.metric))


def _decide(claim: Claim, effect: Effect) -> str:
    """Where the interval lies against the bound; a deterministic claim by its point value."""
    b, claimed = claim.bound, OPS[claim.op]
    if claim.by_construction:
        return "by construction" if claimed(effect.mean, b) else "does not hold"
    if not effect.has_interval:
        return "inconclusive"
    near, far = (effect.low, effect.high) if claim.op.startswith(">") else (effect.high, effect.low)
    if claimed(near, b):
        return "holds"
    return "inconclusive" if claimed(far, b) else "does not hold"


def _value(claim: Claim, run: RunRecord) -> float:
    """The run's value of the claim's metric; NaN for a run that does not count."""
    if run.status == "diverged" and claim.metric != "diverged":
        return math.nan if claim.diverged_as is None else claim.diverged_as
    return run.number(claim.metric) if run.status in ("completed", "diverged") else math.nan


def _side(claim: Claim, select: dict[str, Any], records: Sequence[RunRecord]) -> Side:
    """The side's samples: per seed, the reduce of the finite values of its runs (a run without a
    seed is a sample of its own)."""
    chosen = [r for r in records if matches(r, select)]
    by_seed: dict[Hashable, list[float]] = {}
    for i, run in enumerate(chosen):
        value = _value(claim, run)
        if math.isfinite(value):
            key = ("run", i) if run.seed is None else canonical(run.seed)
            by_seed.setdefault(key, []).append(value)
    samples = {seed: REDUCTIONS[claim.reduce](np.array(v)) for seed, v in by_seed.items()}
    if samples:
        return Side(select, float(np.mean(list(samples.values()))), len(samples), len(chosen), samples)
    if not chosen:
        why = "selects no run"
    else:
        why = (
            f"its {len(chosen)} runs ({statuses(chosen)}) have no finite {claim.metric} from a completed run"
        )
    return Side(select, math.nan, 0, len(chosen), {}, why)


def _isnumber(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _side_dict(side: Side) -> dict[str, Any]:
    value = None if math.isnan(side.value) else side.value
    if side.select is None:
        return {"value": value}
    return {"select": side.select, "value": value, "n": side.n, "runs": side.runs, "why": side.why or None}
