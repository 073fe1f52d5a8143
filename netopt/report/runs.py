"""The record of a run folder: its metrics.json, the job's Hydra files and epochs.csv.

A run folder is any folder below the sweep folder that holds ``metrics.json``. Its
``.hydra/overrides.yaml`` gives the settings (``optimizer=adam``, ``trainer.seed=1``), its
``.hydra/config.yaml`` the composed config (``trainer.seed`` is the seed) and its
``.hydra/hydra.yaml`` the chosen option of each config group; the record's ``used`` is the config's
values and the group options. The configuration a run belongs to is its overrides without the seed
and without the keys that do not change what is trained (:func:`netopt.settings.bookkeeping_keys`).
TensorBoard's per-step scalars are read only on request (:func:`step_series`).
"""

import csv
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from netopt.errors import UserError
from netopt.labels import bookkeeping, flatten
from netopt.report.records import SEED, RunRecord

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: What a run folder written before the running train values were named apart calls them: its
#: epochs.csv's ``train_loss``/``train_acc`` and its metrics.json's ``train_loss`` were the running ones.
_OLD_NAMES = {"train_loss": "train_loss_running", "train_acc": "train_acc_running"}


def read_runs(sweep_dir: Path) -> list[RunRecord]:
    """Every run folder at any depth below sweep_dir (sweep_dir itself included), in natural order."""
    found = sorted(sweep_dir.rglob("metrics.json"), key=lambda p: _natural(p.parent.relative_to(sweep_dir)))
    return [read_run(p.parent) for p in found]


def read_run(run_dir: Path) -> RunRecord:
    """The record of a run folder; an unreadable metrics.json makes the run ``failed`` with that as
    its error."""
    try:
        metrics = _running_named(json.loads((run_dir / "metrics.json").read_text()))
    except ValueError as error:
        metrics = {"status": "failed", "error": f"metrics.json unreadable: {error}"}
    hydra_dir = run_dir / ".hydra"
    lines = read_yaml(hydra_dir / "overrides.yaml") or []
    hydra = read_yaml(hydra_dir / "hydra.yaml") or {}
    choices = (hydra.get("hydra", {}).get("runtime", {}) or {}).get("choices", {}) or {}
    overrides = parse_overrides(lines)
    config = flatten(read_yaml(hydra_dir / "config.yaml") or {})
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
    cells = [[float(c) if c.strip() else np.nan for c in row] for row in body if len(row) == len(header)]
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
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    events = EventAccumulator(str(run_dir), size_guidance={SCALARS: 0})
    events.Reload()
    tags = events.Tags()[SCALARS]
    if tag not in tags:
        raise UserError(f"{run_dir}: no scalar {tag!r} in its TensorBoard events; it has: {', '.join(tags)}")
    scalars = events.Scalars(tag)
    return np.array([s.step for s in scalars]), np.array([s.value for s in scalars])


def read_yaml(path: Path) -> Any:
    """A YAML file's content; None when there is no such file."""
    return yaml.load(path.read_text(), Loader=_LOADER) if path.exists() else None


def _natural(path: Path) -> list[Any]:
    """Sort key that puts job 10 after job 9."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]
