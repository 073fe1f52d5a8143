"""The range checks components run on their own arguments: one line naming the key when refused.

Every component checks its arguments where it is built, so a value is checked the same way from
the command line and from Python; :class:`netopt.errors.ConfigValueError` names the key.
"""

import math
from collections.abc import Collection, Sequence
from typing import Any

from netopt.errors import ConfigValueError


def require(ok: bool, key: str, allowed: str, value: Any) -> None:
    """Raise ``"<key>=<value>: must be <allowed>"`` unless ``ok``."""
    if not ok:
        raise ConfigValueError(key, value, allowed)


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def require_nonnegative(**values: float) -> None:
    """Every given value is finite and >= 0."""
    for key, value in values.items():
        require(_finite(value) and value >= 0.0, key, "finite and >= 0", value)


def require_positive(**values: float) -> None:
    """Every given value is finite and > 0."""
    for key, value in values.items():
        require(_finite(value) and value > 0.0, key, "finite and > 0", value)


def require_fraction(**values: float) -> None:
    """Every given value lies in [0, 1)."""
    for key, value in values.items():
        require(_finite(value) and 0.0 <= value < 1.0, key, "in [0, 1)", value)


def require_probability(**values: float) -> None:
    """Every given value lies in [0, 1]."""
    for key, value in values.items():
        require(_finite(value) and 0.0 <= value <= 1.0, key, "in [0, 1]", value)


def require_count(minimum: int = 1, **values: int | None) -> None:
    """Every given value that is not None is a whole number >= ``minimum``."""
    for key, value in values.items():
        ok = value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= minimum)
        require(ok, key, f"a whole number >= {minimum}", value)


def require_choice(key: str, value: Any, choices: Collection[Any]) -> None:
    """``value`` is one of ``choices``."""
    require(value in choices, key, f"one of {', '.join(map(str, choices))}", value)


def require_length(key: str, values: Sequence[Any], length: int) -> None:
    """``values`` is a list of exactly ``length`` entries."""
    ok = isinstance(values, Sequence) and not isinstance(values, str) and len(values) == length
    require(ok, key, f"a list of {length} values", list(values) if isinstance(values, Sequence) else values)
