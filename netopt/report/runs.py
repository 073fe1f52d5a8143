"""The record of a run folder: its metrics.json, the job's Hydra files and epochs.csv.

A run folder is any folder below the sweep folder that holds ``metrics.json``, a sweep job's
``trial.json`` (a job that failed before its run wrote metrics.json) or ``.hydra`` (a job killed
before it ended, or still running: its record is ``incomplete``). Its
``.hydra/overrides.yaml`` gives the settings (``optimizer=adam``, ``trainer.seed=1``), its
``.hydra/config.yaml`` the composed config (``trainer.seed`` is the seed) and its
``.hydra/hydra.yaml`` the chosen option of each config group; the record's ``used`` is the config's
values and the group options. The configuration a run belongs to is its overrides without the seed
and without the keys that do not change what is trained (:func:`netopt.settings.bookkeeping_keys`).
TensorBoard's per-step scalars and histograms are read only on request (:func:`step_series`,
:func:`scalars`, :func:`histograms`).

A file that is there but is not what netopt writes (metrics.json that is not an object, a text cell
in epochs.csv, YAML that does not parse) is a :class:`~netopt.errors.UserError` naming the file; a
record whose numbers cannot be true (an accuracy that is text, NaN, inf or outside [0, 1], a negative
time) is marked ``invalid`` with what is wrong, and so is left out of every estimate.
"""

import csv
import fnmatch
import json
import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from netopt.errors import UserError, first_line
from netopt.labels import bookkeeping, flatten
from netopt.metrics import DIFFERENCES
from netopt.report.records import SEED, RunRecord

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: What a run folder written before the running train values were named apart calls them: its
#: epochs.csv's ``train_loss``/``train_acc`` and its metrics.json's ``train_loss`` were the running ones.
_OLD_NAMES = {"train_loss": "train_loss_running", "train_acc": "train_acc_running"}


#: The files that make a folder a run folder.
MARKS = ("metrics.json", "trial.json", ".hydra")
#: A record's numbers that are fractions, and those that cannot be negative (besides ``*time*``, ``*_s``).
FRACTIONS = re.compile(r"(^|_)acc(_|$)")
COUNTS = ("epochs", "steps", "best_epoch")


def read_runs(sweep_dir: Path) -> list[RunRecord]:
    """Every run folder at any depth below sweep_dir (sweep_dir itself included), in natural order."""
    found = {p.parent for mark in MARKS for p in sweep_dir.rglob(mark) if p.is_dir() == (mark == ".hydra")}
    return [read_run(d) for d in sorted(found, key=lambda d: _natural(d.relative_to(sweep_dir)))]


def read_run(run_dir: Path) -> RunRecord:
    """The record of a run folder; an unreadable metrics.json makes the run ``failed`` with that as
    its error, impossible numbers make it ``invalid``."""
    metrics = _metrics(run_dir)
    problems = invalid_numbers(metrics)
    if problems:
        metrics = metrics | {"status": "invalid", "error": "metrics.json: " + "; ".join(problems)}
    hydra_dir = run_dir / ".hydra"
    lines = read_yaml(hydra_dir / "overrides.yaml") or []
    if not (isinstance(lines, list) and all(isinstance(line, str) for line in lines)):
        raise UserError(f"{hydra_dir / 'overrides.yaml'}: not a list of overrides (key=value lines)")
    hydra = _mapping(hydra_dir / "hydra.yaml")
    choices = (hydra.get("hydra", {}).get("runtime", {}) or {}).get("choices", {}) or {}
    overrides = parse_overrides(lines)
    config = flatten(_mapping(hydra_dir / "config.yaml"))
    groups = {k: str(v) for k, v in choices.items() if v is not None and not bookkeeping(k)}
    return RunRecord(
        settings={k: v for k, v in overrides.items() if k != SEED},
        metrics=metrics,
        seed=config.get(SEED, overrides.get(SEED)),
        source=run_dir,
        status=str(metrics.get("status", "completed")),
        used=config | groups,  # a group's option before a config value of the same key
        epochs=read_epochs(run_dir / "epochs.csv"),
    )


def invalid_numbers(metrics: dict[str, Any]) -> list[str]:
    """What cannot be true in a record's metrics: a number that is not finite (netopt writes null
    for one), an accuracy or time that is not a number, an accuracy outside [0, 1], a negative
    time or count."""
    problems = []
    for key, value in metrics.items():
        difference = set(key.split("_")) & set(DIFFERENCES)  # mc_acc_gain: may be below 0
        fraction = FRACTIONS.search(key) and not difference
        positive = key in COUNTS or "time" in key or key.endswith("_s")
        if value is None or isinstance(value, bool) or not (fraction or positive or isinstance(value, float)):
            continue
        if not isinstance(value, (int, float)):
            problems.append(f"{key}={value!r} is not a number")
        elif not math.isfinite(value):
            problems.append(f"{key}={value} is not finite")
        elif fraction and not 0 <= value <= 1:
            problems.append(f"{key}={value} is not in [0, 1]")
        elif positive and value < 0:
            problems.append(f"{key}={value} is negative")
    return problems


def parse_overrides(lines: list[str]) -> dict[str, str]:
    """``["+a.b=1", "optimizer=adam"]`` -> ``{"a.b": "1", "optimizer": "adam"}``."""
    pairs = (line.split("=", 1) for line in lines if "=" in line)
    return {key.lstrip("+"): value for key, value in pairs}


def read_epochs(path: Path) -> dict[str, np.ndarray]:
    """epochs.csv as one float array per column (an empty cell is NaN, a row cut short is left out);
    {} when there is none."""
    if not path.exists():
        return {}
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return {}
    header, body = rows[0], rows[1:]
    cells = [[_cell(path, i + 2, c) for c in row] for i, row in enumerate(body) if len(row) == len(header)]
    table = np.array(cells, dtype=float).reshape(len(cells), len(header))
    return {_OLD_NAMES.get(name, name): table[:, i] for i, name in enumerate(header)}


def _running_named(metrics: Any) -> Any:
    """The metrics of an old run folder (without ``train_acc_running``) with its running train loss
    under that name; its ``train_acc`` was the final evaluation's already."""
    if not isinstance(metrics, dict) or "train_acc_running" in metrics or "train_loss" not in metrics:
        return metrics
    return {_OLD_NAMES["train_loss"] if k == "train_loss" else k: v for k, v in metrics.items()}


def step_series(run_dir: Path | str, tag: str) -> tuple[np.ndarray, np.ndarray]:
    """The steps and values of one scalar tag (e.g. ``train/batch_loss``) from the run's TensorBoard events,
    read with TensorBoard's own reader (events a resumed run purged are dropped)."""
    events = _events(run_dir)
    tags = events.Tags()["scalars"]
    if tag not in tags:
        raise UserError(f"{run_dir}: no scalar {tag!r} in its TensorBoard events; it has: {', '.join(tags)}")
    scalars = events.Scalars(tag)
    return np.array([s.step for s in scalars]), np.array([s.value for s in scalars])


def scalars(run_dir: Path | str, patterns: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The steps and values of every scalar tag of the run's TensorBoard events that matches one of the
    patterns (``fnmatch``: ``act_std/*``)."""
    events = _events(run_dir)
    found = {}
    for tag in events.Tags()["scalars"]:
        if any(fnmatch.fnmatchcase(tag, p) for p in patterns):
            points = events.Scalars(tag)
            found[tag] = (np.array([p.step for p in points]), np.array([p.value for p in points]))
    return found


def histograms(
    run_dir: Path | str, patterns: Sequence[str]
) -> dict[str, list[tuple[int, np.ndarray, np.ndarray]]]:
    """Every histogram tag of the run's TensorBoard events that matches one of the patterns
    (``act_hist/*``): per logged step, (step, the bin edges, the counts)."""
    events = _events(run_dir)
    found = {}
    for tag in events.Tags()["histograms"]:
        if any(fnmatch.fnmatchcase(tag, p) for p in patterns):
            found[tag] = [
                (
                    e.step,
                    np.array([e.histogram_value.min, *e.histogram_value.bucket_limit]),
                    np.array(e.histogram_value.bucket),
                )
                for e in events.Histograms(tag)
            ]
    return found


def _events(run_dir: Path | str) -> Any:
    """The run's TensorBoard events, every scalar and histogram loaded; the reader's progress lines
    kept quiet."""
    from tensorboard.backend.event_processing.event_accumulator import (
        HISTOGRAMS,
        SCALARS,
        EventAccumulator,
    )

    logging.getLogger("tensorboard").setLevel(logging.WARNING)
    events = EventAccumulator(str(run_dir), size_guidance={SCALARS: 0, HISTOGRAMS: 0})
    events.Reload()
    return events


def read_yaml(path: Path) -> Any:
    """A YAML file's content; None when there is no such file; a file that does not parse is a
    UserError naming it."""
    if not path.exists():
        return None
    try:
        return yaml.load(path.read_text(), Loader=_LOADER)
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: not YAML ({first_line(error)})") from None


def _metrics(run_dir: Path) -> dict[str, Any]:
    """metrics.json; else the outcome of a sweep job's trial.json; else ``incomplete``."""
    for name in ("metrics.json", "trial.json"):
        path = run_dir / name
        if not path.exists():
            continue
        try:
            data = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as error:
            return {"status": "failed", "error": f"{name} unreadable: {first_line(error)}"}
        if not isinstance(data, dict) or not isinstance(data.get("metrics", {}), dict):
            raise UserError(f"{path}: not a JSON object of metrics (it holds a {type(data).__name__})")
        if name == "trial.json":
            data = data.get("metrics", {}) | {k: data[k] for k in ("status", "error") if k in data}
        return _running_named(data)
    return {"status": "incomplete", "error": "no metrics.json: the job was killed, or is still running"}


def _mapping(path: Path) -> dict[str, Any]:
    """A YAML file that holds a mapping; {} when there is none."""
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a YAML mapping (it holds a {type(data).__name__})")
    return data


def _cell(path: Path, line: int, text: str) -> float:
    """A number of epochs.csv; an empty cell is NaN."""
    try:
        return float(text) if text.strip() else np.nan
    except ValueError:
        raise UserError(f"{path}: line {line}: {text!r} is not a number") from None


def _natural(path: Path) -> list[Any]:
    """Sort key that puts job 10 after job 9."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]
