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

A run matches a key when its setting (a sweep's override), what it used (a config group option or
config value) or, for ``seed`` and ``trainer.seed``, its seed equals the given value (numbers
compared as numbers; :meth:`~netopt.report.records.RunRecord.value`). A side's samples are its seeds:
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
from netopt.report.records import RunRecord
from netopt.report.stats import LEVEL, difference, mean_ci

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
            if not isinstance(value, Mapping) and (side == "left" or not _is_number(value)):
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
        return f"{_number(self.value)} (n={self.n})" if self.n else "no value"


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

    def __str__(self) -> str:
        text = _signed(self.mean)
        if self.has_interval and self.low != self.high:
            text += f" [{_signed(self.low)}, {_signed(self.high)}]"
        return f"{text} ({self.method})"


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
            "effect": None if e is None else _effect_dict(e),
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
    side = f"{claim.op} {_signed(claim.bound)}"
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


def matches(run: RunRecord, select: Mapping[str, Any]) -> bool:
    """Whether the run used the given value for every key of the selector."""
    return all(_same(run.value(key), value) for key, value in select.items())


def _effect(claim: Claim, left: Side, right: Side) -> Effect:
    """left - right with its interval: paired or Welch between two sides, one-sample against a number."""
    if right.select is not None:
        d = difference(right.samples, left.samples)
        how = f"paired over {d.paired} seeds" if d.paired else f"Welch, n={left.n} and {right.n}"
        if not d.has_interval:
            how = f"n={left.n} and {right.n}: too few seeds for an interval"
        elif d.low == d.high:
            how = f"exact: every seed gave the same {'difference' if d.paired else 'values'}"
        return Effect(d.mean, d.low, d.high, d.paired or min(d.n), how)
    est = mean_ci(left.samples.values(), natural_range(claim.metric))
    c = right.value
    if est.duplicates:
        return Effect(est.mean - c, est.mean - c, est.mean - c, est.n, f"exact: identical over {est.n} seeds")
    if not est.has_interval:
        return Effect(est.mean - c, math.nan, math.nan, est.n, f"n={est.n}: too few seeds for an interval")
    return Effect(
        est.mean - c, est.low - c, est.high - c, est.n, f"{LEVEL:.0%} interval of the mean, n={est.n}"
    )


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
            key = ("run", i) if run.seed is None else _canonical(run.seed)
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


def _same(used: Any, wanted: Any) -> bool:
    a, b = _canonical(used), _canonical(wanted)
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9)
    return a == b


def _canonical(value: Any) -> float | str:
    """1, 1.0, "1.0" and "1e0" as the same float; true/True as "true"; other values as strings."""
    if value is None or isinstance(value, bool):
        return "null" if value is None else str(value).lower()
    try:
        return float(value)
    except (TypeError, ValueError):
        text = str(value)
        return text.lower() if text.lower() in ("true", "false", "null") else text


def _number(value: float) -> str:
    """Four decimals (accuracies, losses of order one); four significant digits for values far from one."""
    return f"{value:.4f}" if value == 0 or 1e-3 <= abs(value) < 1e4 else f"{value:.4g}"


def _signed(value: float) -> str:
    return ("+" if value >= 0 else "-") + _number(abs(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _side_dict(side: Side) -> dict[str, Any]:
    value = None if math.isnan(side.value) else side.value
    if side.select is None:
        return {"value": value}
    return {"select": side.select, "value": value, "n": side.n, "runs": side.runs, "why": side.why or None}


def _effect_dict(effect: Effect) -> dict[str, Any]:
    interval = effect.has_interval
    return {
        "mean": effect.mean,
        "low": effect.low if interval else None,
        "high": effect.high if interval else None,
        "n": effect.n,
        "method": effect.method,
    }
