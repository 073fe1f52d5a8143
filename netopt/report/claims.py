"""Claims about a set of run records, judged on their numbers.

A claim compares a metric between two sets of runs (or a set and a number)::

    statement: "Batch norm trains at lr 1.0 where no normalization cannot"
    metric: test_acc                        # a metrics.json key
    left: {norm: batch, optimizer.lr: 1.0}  # the runs whose value of every given key matches
    op: ">"                                 # one of > >= < <=
    right: {norm: none, optimizer.lr: 1.0}  # a selector like left, or a number
    margin: 0.1                             # > >=: left op right + margin; < <=: left op right - margin
    diverged_as: 0.1                        # optional: the value a run that diverged counts as
    caveat: "why it may fail at this scale" # optional: shown with the numbers when it does not hold

A run matches a key when its setting (a sweep's override), what it used (a config group option or
config value) or, for ``seed`` and ``trainer.seed``, its seed equals the given value (numbers
compared as numbers; :meth:`~netopt.report.records.RunRecord.value`). Each side is reduced
(``reduce``: the mean, or the min or max) over the finite values of the metric in the completed runs
it selects, all seeds; a run that diverged counts as ``diverged_as`` when that is given (chance
accuracy, say), and is left out otherwise. Besides the metrics.json keys, ``metric`` may be
``diverged`` (1 for a run that diverged, 0 else: the mean is the fraction that diverged) or
``<column>@<epoch>``, a per-epoch column (epochs.csv) after that epoch. The verdict is computed from
those numbers: ``holds``, ``does not hold``, or ``undecided`` when a side has no value.
A ``caveat``, the preset's explanation of why the claim may not hold at its scale, never decides the
verdict: it is only added to the numbers of a claim that does not hold.
"""

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from netopt.errors import UserError
from netopt.report.configs import statuses
from netopt.report.records import RunRecord

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
KEYS = ("statement", "metric", "left", "op", "right", "margin", "reduce", "diverged_as", "caveat")


@dataclass(frozen=True)
class Claim:
    """``reduce(metric | left) op reduce(metric | right) ± margin`` (+ for > and >=, - for < and <=);
    right may be a number instead of a selector."""

    statement: str
    metric: str
    left: dict[str, Any]
    op: str
    right: dict[str, Any] | float
    margin: float = 0.0
    reduce: str = "mean"
    diverged_as: float | None = None
    caveat: str = ""

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
        )


@dataclass(frozen=True)
class Side:
    """One side of a claim: its selector (None for a number), its value, the values and runs behind it."""

    select: dict[str, Any] | None
    value: float
    n: int
    runs: int
    why: str = ""  # why there is no value

    def __str__(self) -> str:
        if self.select is None:
            return f"{self.value:g}"
        return f"{_number(self.value)} (n={self.n})" if self.n else "no value"


@dataclass(frozen=True)
class Verdict:
    """A claim checked: both sides, the verdict and the numbers (or why it is undecided) in words."""

    claim: Claim
    left: Side
    right: Side
    verdict: str  # holds | does not hold | undecided
    reason: str

    def as_dict(self) -> dict[str, Any]:
        c = self.claim
        return {
            "statement": c.statement,
            "metric": c.metric,
            "op": c.op,
            "margin": c.margin,
            "reduce": c.reduce,
            "diverged_as": c.diverged_as,
            "left": _side_dict(self.left),
            "right": _side_dict(self.right),
            "verdict": self.verdict,
            "reason": self.reason,
        }


def judge(claim: Claim, records: Sequence[RunRecord]) -> Verdict:
    """The verdict of a claim on these records, computed from each side's reduced metric."""
    left = _side(claim, claim.left, records)
    right = (
        _side(claim, claim.right, records) if isinstance(claim.right, dict) else Side(None, claim.right, 0, 0)
    )
    missing = [f"{name}: {s.why}" for name, s in (("left", left), ("right", right)) if s.why]
    if missing:
        return Verdict(claim, left, right, "undecided", "; ".join(missing))
    sign = 1.0 if claim.op.startswith(">") else -1.0
    bound = right.value + sign * claim.margin
    holds = OPS[claim.op](left.value, bound)
    relation = claim.op if holds else f"is not {claim.op}"
    offset = sign * claim.margin
    shown_bound = f" {'+' if offset > 0 else '-'} {abs(offset):g} = {_number(bound)}" if offset else ""
    reason = f"{claim.reduce} {claim.metric}: {left} {relation} {right}{shown_bound}"
    if not holds and claim.caveat:
        reason += f". At this scale: {claim.caveat}"
    return Verdict(claim, left, right, "holds" if holds else "does not hold", reason)


def matches(run: RunRecord, select: Mapping[str, Any]) -> bool:
    """Whether the run used the given value for every key of the selector."""
    return all(_same(run.value(key), value) for key, value in select.items())


def _value(claim: Claim, run: RunRecord) -> float:
    """The run's value of the claim's metric; NaN for a run that does not count."""
    if run.status == "diverged" and claim.metric != "diverged":
        return math.nan if claim.diverged_as is None else claim.diverged_as
    return run.number(claim.metric) if run.status in ("completed", "diverged") else math.nan


def _side(claim: Claim, select: dict[str, Any], records: Sequence[RunRecord]) -> Side:
    chosen = [r for r in records if matches(r, select)]
    values = np.array([_value(claim, r) for r in chosen])
    values = values[np.isfinite(values)]
    if len(values):
        return Side(select, REDUCTIONS[claim.reduce](values), len(values), len(chosen))
    if not chosen:
        why = "selects no run"
    else:
        why = (
            f"its {len(chosen)} runs ({statuses(chosen)}) have no finite {claim.metric} from a completed run"
        )
    return Side(select, math.nan, 0, len(chosen), why)


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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _side_dict(side: Side) -> dict[str, Any]:
    value = None if math.isnan(side.value) else side.value
    if side.select is None:
        return {"value": value}
    return {"select": side.select, "value": value, "n": side.n, "runs": side.runs, "why": side.why or None}
