"""Structured-config schemas for every config group, and the checks OmegaConf cannot express.

Each option of a group (``conf/<group>/<name>.yaml``) starts its defaults list with
``/schema/<group>/<name>@_here_``: a dataclass registered here with :func:`register`. Hydra then
rejects unknown keys and values of the wrong type while composing. Ranges and choices, which
OmegaConf does not check, are declared on the dataclass fields with :func:`bounded` and checked by
:func:`validate` before anything is built.

Every module of this package is imported (and so registered) when the package is imported.
"""

import importlib
import pkgutil
from dataclasses import MISSING, Field, field, fields, is_dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, ListConfig, OmegaConf

from netopt.errors import UserError


def bounded(
    default: Any = MISSING,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: tuple[Any, ...] | None = None,
) -> Any:
    """A dataclass field whose value must lie in a range or among ``choices``.

    Lists are checked element by element; ``None`` always passes (for optional fields).
    """
    checks = {k: v for k, v in dict(ge=ge, gt=gt, le=le, lt=lt, choices=choices).items() if v is not None}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: default.copy(), metadata=checks)
    return field(default=default, metadata=checks)


def register(group: str, name: str, node: type) -> None:
    """Make ``node`` the schema of option ``name`` of config group ``group``."""
    ConfigStore.instance().store(group=f"schema/{group}", name=name, node=node)


_RULES = {
    "ge": (lambda v, b: v >= b, ">= {}"),
    "gt": (lambda v, b: v > b, "> {}"),
    "le": (lambda v, b: v <= b, "<= {}"),
    "lt": (lambda v, b: v < b, "< {}"),
    "choices": (lambda v, b: v in b, "one of {}"),
}


def _check(key: str, spec: Field, value: Any) -> None:
    values = list(value) if isinstance(value, (list, tuple, ListConfig)) else [value]
    for v in values:
        if v is None:
            continue
        for rule, bound in spec.metadata.items():
            ok, allowed = _RULES[rule]
            if not ok(v, bound):
                shown = ", ".join(map(str, bound)) if rule == "choices" else bound
                raise UserError(f"{key}={value}: must be {allowed.format(shown)}")


def validate(cfg: DictConfig, prefix: str = "") -> None:
    """Raise :class:`UserError` naming the first key whose value breaks its declared bound."""
    schema = OmegaConf.get_type(cfg)
    declared = {f.name: f for f in fields(schema)} if is_dataclass(schema) else {}
    for key in cfg:
        full_key = f"{prefix}{key}"
        if OmegaConf.is_missing(cfg, key):
            raise UserError(f"{full_key}: a value is required")
        value = cfg._get_node(key)
        if isinstance(value, DictConfig):
            validate(value, f"{full_key}.")
        elif key in declared:
            _check(full_key, declared[key], cfg[key])


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
