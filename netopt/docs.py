"""The README's table of config groups, generated from the config registry as ``--help`` is.

After :func:`netopt.config.register`, :data:`netopt.config.OPTIONS` lists every group and option.
:func:`options_table` renders them as one markdown table: each group with the code its options
build (their ``_target_``'s module, or the folder those modules share), each option with the first
sentence of the comment that opens its YAML file (else of its target's docstring), the default
first. A preset of the whole config (``# @package _global_``: experiments, searches) is described by
its title instead, the words before its first colon or full stop, without parentheses.

:func:`with_tables` puts the table into a text between :data:`BEGIN` and :data:`END`;
``python scripts/readme_tables.py`` rewrites README.md with it, and tests/test_readme.py fails when
README.md differs.
"""

import re
import sys
from collections.abc import Iterator
from importlib import resources
from os.path import commonpath
from pathlib import Path

from hydra.utils import get_object
from omegaconf import OmegaConf

from netopt import config

BEGIN, END = "<!-- options:begin -->", "<!-- options:end -->"
REGENERATE = "python scripts/readme_tables.py"
ROOT = Path(config.__file__).resolve().parents[1]
_GLOBAL = re.compile(r"^#\s*@package\s+_global_\s*$", re.MULTILINE)
_ABBREVIATION = re.compile(r"\b(e\.g|i\.e|al|vs|etc|cf)\.$")


def comment(text: str) -> str:
    """The comment that opens a YAML file, as one line: up to its first non-comment line or indented
    example (``#   netopt-train ...``), without the ``@package`` header."""
    lines = []
    for line in text.splitlines():
        body = line.removeprefix("#")
        if body == line or body.startswith("   "):
            break
        if not body.strip().startswith("@package"):
            lines.append(body.strip())
    return " ".join(lines).strip()


def _ends(text: str, stops: str) -> Iterator[int]:
    """The positions in ``text`` of the characters of ``stops`` outside parentheses and brackets that
    end a sentence or a title (followed by a space or the end; not an abbreviation's full stop)."""
    depth = 0
    for i, char in enumerate(text):
        depth += (char in "([") - (char in ")]")
        follows = text[i + 1 : i + 2] in ("", " ")
        if depth == 0 and char in stops and follows and not _ABBREVIATION.search(text[: i + 1]):
            yield i


def first_sentence(text: str) -> str:
    """``text`` up to its first full stop (kept), or all of it."""
    end = next(_ends(text, "."), len(text) - 1)
    return text[: end + 1]


def title(text: str) -> str:
    """``text`` up to its first colon or full stop, without the parenthesized parts."""
    end = next(_ends(text, ".:"), len(text))
    return re.sub(r"\s*\([^()]*\)", "", text[:end]).strip()


def _preset(group: str, name: str) -> str:
    return resources.files(config.CONF_PACKAGE).joinpath(*group.split("/"), f"{name}.yaml").read_text("utf-8")


def _targets(node: dict) -> list[object]:
    """The ``_target_``s of a preset: its own, or those of the components it holds (a dict of them,
    as the ``regularization`` group's options)."""
    if "_target_" in node:
        return [get_object(node["_target_"])]
    return [target for value in node.values() if isinstance(value, dict) for target in _targets(value)]


def _targets_of(text: str) -> list[object]:
    return _targets(config.container(OmegaConf.create(text), resolve=False))


def describe(group: str, name: str) -> str:
    """One line on option ``name`` of ``group``, from its YAML file's comment or its target's docstring."""
    text = _preset(group, name)
    if _GLOBAL.search(text):
        return title(comment(text))
    target = next(iter(_targets_of(text)), None)
    opening = comment(text) or " ".join((getattr(target, "__doc__", None) or "").split("\n\n")[0].split())
    return first_sentence(opening)


def source(group: str) -> str:
    """Where the code of ``group``'s options lives: their targets' module, or the folder they share;
    ``conf/<group>/`` when they have no target."""
    targets = [target for name in config.OPTIONS[group] for target in _targets_of(_preset(group, name))]
    files = sorted({_relative(Path(sys.modules[t.__module__].__file__ or t.__module__)) for t in targets})
    if not files:
        return f"conf/{group}/"
    if len(files) == 1:
        return files[0].as_posix()
    return Path(commonpath(files)).as_posix() + "/"


def _relative(path: Path) -> Path:
    return path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path


def defaults() -> dict[str, str | None]:
    """The groups of the primary config's defaults list, in its order, each with the option it
    composes by default (``None``: none unless chosen)."""
    primary = resources.files(config.CONF_PACKAGE).joinpath(f"{config.PRIMARY}.yaml").read_text("utf-8")
    entries = config.container(OmegaConf.create(primary), resolve=False).get("defaults", [])
    pairs = (pair for entry in entries if not isinstance(entry, str) for pair in entry.items())
    return {str(group): None if name is None else str(name) for group, name in pairs}


def _cell(text: str) -> str:
    """``text`` safe in a markdown table cell: pipes escaped, no HTML tag opened."""
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text.replace("|", "\\|"))


def options_table() -> str:
    """Every config group and option as a markdown table, groups in the primary config's order."""
    if not config.OPTIONS:
        config.register()
    chosen = defaults()
    order = [g for g in chosen if g in config.OPTIONS] + sorted(set(config.OPTIONS) - set(chosen))
    rows = ["| group | option | what it is |", "|---|---|---|"]
    for group in order:
        names = sorted(config.OPTIONS[group], key=lambda name: (name != chosen.get(group), name))
        for i, name in enumerate(names):
            head = f"`{group}` (`{source(group)}`)" if i == 0 else ""
            label = f"`{name}` (default)" if name == chosen.get(group) else f"`{name}`"
            rows.append(f"| {head} | {label} | {_cell(describe(group, name))} |")
    return "\n".join(rows)


def with_tables(text: str) -> str:
    """``text`` with the options table between :data:`BEGIN` and :data:`END` (both must be there)."""
    start, stop = text.find(BEGIN), text.find(END)
    if start < 0 or stop < start:
        raise ValueError(f"no {BEGIN} ... {END} markers")
    return f"{text[: start + len(BEGIN)]}\n{options_table()}\n{text[stop:]}"
