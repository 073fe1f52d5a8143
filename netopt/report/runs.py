"""What the report reads from a run folder: metrics.json, the job's Hydra files and epochs.csv.

A run folder is any folder below the sweep folder that holds ``metrics.json``. Its
``.hydra/overrides.yaml`` gives the overrides (``optimizer=adam``, ``trainer.seed=1``), its
``.hydra/config.yaml`` the composed config (``trainer.seed`` is the seed) and its
``.hydra/hydra.yaml`` the chosen option of each config group. The configuration a run belongs to is
its overrides without the seed and without the keys that do not change what is trained
(:data:`netopt.settings.bookkeeping_keys`). TensorBoard's per-step scalars are read only on request
(:func:`step_series`).
"""

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from netopt.errors import UserError
from netopt.labels import bookkeeping, flatten

SEED = "trainer.seed"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Run:
    """One run folder: status, metrics.json, overrides, group choices, flat config, epochs.csv columns."""

    dir: Path
    status: str
    metrics: dict[str, Any]
    overrides: dict[str, str]
    choices: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    epochs: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def seed(self) -> Any:
        """trainer.seed of the composed config (its override when there is no config)."""
        return self.config.get(SEED, self.overrides.get(SEED))

    @property
    def params(self) -> dict[str, str]:
        """The overrides that make its configuration: without the seed and bookkeeping keys."""
        return {k: v for k, v in self.overrides.items() if not bookkeeping(k) and k != SEED}

    def value(self, key: str) -> Any:
        """What the run used for key: its override, else its group's option, else the config's value."""
        for source in (self.overrides, self.choices, self.config):
            if key in source:
                return source[key]
        return None

    def number(self, key: str) -> float:
        """A metric as a float; NaN when missing, null or not a number. ``diverged`` is 1 for a run
        that diverged and 0 for any other; ``<column>@<epoch>`` is a column of epochs.csv after that
        epoch (``train_loss@1``: the train loss of the first epoch)."""
        if key == "diverged":
            return float(self.status == "diverged")
        if "@" in key:
            column, _, epoch = key.partition("@")
            values = self.epochs.get(column, np.array([]))
            epochs = self.epochs.get("epoch", np.array([]))
            at = np.flatnonzero(epochs == float(epoch)) if epoch.isdigit() else np.array([], dtype=int)
            return float(values[at[0]]) if len(at) else np.nan
        value = self.metrics.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else np.nan


def read_runs(sweep_dir: Path) -> list[Run]:
    """Every run folder at any depth below sweep_dir (sweep_dir itself included), in natural order."""
    found = sorted(sweep_dir.rglob("metrics.json"), key=lambda p: _natural(p.parent.relative_to(sweep_dir)))
    return [read_run(p.parent) for p in found]


def read_run(run_dir: Path) -> Run:
    """A run folder; an unreadable metrics.json makes the run ``failed`` with that as its error."""
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except ValueError as error:
        metrics = {"status": "failed", "error": f"metrics.json unreadable: {error}"}
    hydra_dir = run_dir / ".hydra"
    lines = read_yaml(hydra_dir / "overrides.yaml") or []
    hydra = read_yaml(hydra_dir / "hydra.yaml") or {}
    choices = (hydra.get("hydra", {}).get("runtime", {}) or {}).get("choices", {}) or {}
    return Run(
        dir=run_dir,
        status=str(metrics.get("status", "completed")),
        metrics=metrics,
        overrides=parse_overrides(lines),
        choices={k: str(v) for k, v in choices.items() if v is not None and not bookkeeping(k)},
        config=flatten(read_yaml(hydra_dir / "config.yaml") or {}),
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
    return {name: table[:, i] for i, name in enumerate(header)}


def step_series(run_dir: Path | str, tag: str) -> tuple[np.ndarray, np.ndarray]:
    """The steps and values of one scalar tag (e.g. ``train/loss``) from the run's TensorBoard events,
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
