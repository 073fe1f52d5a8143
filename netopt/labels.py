"""Names for the configurations of a sweep: the keys whose value differs, shortened, as labels.

Shared by the sweep's table (:mod:`netopt.hpo.summary`) and the report (:mod:`netopt.report`);
it imports nothing heavy, so printing a table stays fast.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from netopt.errors import UserError
from netopt.settings import bookkeeping_keys

#: The value shown for a key a configuration does not set.
UNSET = "-"
#: The characters of a run folder's name: ones that both the shell and Hydra's override grammar take
#: unquoted, so ``hydra.run.dir=outputs/runs/<run>`` works as typed; and the longest name it gets.
SAFE = "A-Za-z0-9_.+%@-"
_SPACERS = str.maketrans({"=": "-", ",": "+", "/": "-", "\\": "-", ":": "-"})
_UNSAFE = re.compile(f"[^{SAFE}]")
MAX_NAME = 80


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"trainer": {"seed": 0}}`` -> ``{"trainer.seed": 0}``: the dotted keys of a nested mapping."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def bookkeeping(key: str) -> bool:
    """Whether an override key is bookkeeping rather than part of a configuration
    (:func:`netopt.settings.bookkeeping_keys`, and Hydra's own)."""
    key = key.lstrip("+~")
    return key in bookkeeping_keys() or key.startswith(("hydra.", "hydra/"))


def folder_name(params: Mapping[str, Any]) -> str:
    """A run folder's name from the overrides that tell it apart: ``optimizer-adam+lr-0.01`` for
    ``optimizer=adam lr=0.01`` (short keys, short values, no bookkeeping keys; ``=`` as ``-``, ``,`` as
    ``+``, only the characters of :data:`SAFE`; at most :data:`MAX_NAME` characters)."""
    kept = {k.lstrip("+~"): v for k, v in params.items() if not bookkeeping(k)}
    names = short_names(kept)
    text = ",".join(f"{names[k]}={short_value(v)}" for k, v in kept.items()).translate(_SPACERS)
    return _UNSAFE.sub("", text)[:MAX_NAME]


def run_name(name: str) -> str:
    """``name=...``, the run folder's name after its time: a folder name, never a path (refused with
    one line unless it is made of the characters of :data:`SAFE` and does not start with a dot)."""
    if not name or _UNSAFE.search(name) or name.startswith("."):
        raise UserError(
            f"name={name}: a folder name, not a path; use letters, digits and _ . + % @ - "
            "(not starting with a dot)"
        )
    return name


def varying_keys(params: Sequence[Mapping[str, Any]]) -> list[str]:
    """The keys whose value differs between the configurations (a missing key counts as a value),
    in the order they first appear."""
    keys = dict.fromkeys(k for p in params for k in p)
    return [k for k in keys if len({str(p.get(k, UNSET)) for p in params}) > 1]


def short_names(keys: Iterable[str]) -> dict[str, str]:
    """Each key without its group prefix (``optimizer.lr`` -> ``lr``) where no other key would
    share that name; the full key otherwise."""
    keys = list(keys)
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {
        k: s if last.count(s) == 1 and (s == k or s not in keys) else k
        for k, s in zip(keys, last, strict=True)
    }


def label(params: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """``optimizer=adam, lr=0.01``: the values of the keys in ``names`` (key -> short name)."""
    return ", ".join(f"{short}={short_value(params.get(key, UNSET))}" for key, short in names.items())


def short_value(value: Any) -> str:
    """A value as shown: a float with more than 4 significant digits to 4 (``0.9572640583964614`` ->
    ``0.9573``), anything else (integers too) as written."""
    text = str(value)
    if not any(c in text for c in ".eE"):
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    digits = text.lower().split("e")[0].replace(".", "").lstrip("+-").lstrip("0")
    return f"{number:.4g}" if len(digits) > 4 else text
