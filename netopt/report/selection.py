"""Which runs a side of a claim selects, and what a run used for a key, compared as values.

A run matches a selector when, for every key, its setting (a sweep's override), what it used (a
config group option or config value) or, for ``seed`` and ``trainer.seed``, its seed equals the given
value: numbers as numbers (1, 1.0, "1.0" and "1e0" are one value), yes/no and null by their lower-case
names, anything else as text.
"""

import math
from collections.abc import Mapping
from typing import Any

from netopt.report.records import RunRecord


def matches(run: RunRecord, select: Mapping[str, Any]) -> bool:
    """Whether the run used the given value for every key of the selector."""
    return all(_same(run.value(key), value) for key, value in select.items())


def _same(used: Any, wanted: Any) -> bool:
    a, b = canonical(used), canonical(wanted)
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9)
    return a == b


def canonical(value: Any) -> float | str:
    """1, 1.0, "1.0" and "1e0" as the same float; true/True as "true"; other values as strings."""
    if value is None or isinstance(value, bool):
        return "null" if value is None else str(value).lower()
    try:
        return float(value)
    except (TypeError, ValueError):
        text = str(value)
        return text.lower() if text.lower() in ("true", "false", "null") else text
