"""A run's record: the settings it chose, what it measured, its seed and where it came from.

Every source of results produces records: a sweep's run folders (:mod:`netopt.report.runs`), the
paths of ``netopt-trajectories`` (:mod:`netopt.studies.trajectories_report`) and the searches of
``netopt-hpo-budget`` (:mod:`netopt.studies.hpo_budget_report`). The claims (:mod:`netopt.report.claims`), the
configurations over seeds (:mod:`netopt.report.configs`) and the report read records only.
``records.jsonl`` holds one record per line (:func:`write_records`, :func:`read_records`).
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netopt.errors import UserError
from netopt.labels import bookkeeping

#: The seed of a netopt-train run.
SEED = "trainer.seed"
#: The keys that name a record's seed in a selector.
SEED_KEYS = ("seed", SEED)


@dataclass(frozen=True)
class RunRecord:
    """One run: its chosen settings (a sweep's overrides, without the seed), its metrics, seed,
    source (a run folder, or the folder of the file it was read from) and status; ``used`` holds
    what it used without choosing (a sweep's config group options and config values) and
    ``epochs`` its per-epoch columns (epochs.csv)."""

    settings: dict[str, Any]
    metrics: dict[str, Any]
    seed: Any = None
    source: Path = Path()
    status: str = "completed"
    used: dict[str, Any] = field(default_factory=dict)
    epochs: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, Any]:
        """The settings that make its configuration: without the keys that do not change the result."""
        return {k: v for k, v in self.settings.items() if not bookkeeping(k)}

    @property
    def error(self) -> str:
        """The error line of a run that failed or diverged; "" for another."""
        return str(self.metrics.get("error") or "")

    def value(self, key: str) -> Any:
        """What the run used for key: its seed for ``seed`` and ``trainer.seed``, else its setting,
        else what it used without choosing."""
        if key in SEED_KEYS:
            return self.seed
        for source in (self.settings, self.used):
            if key in source:
                return source[key]
        return None

    def number(self, key: str) -> float:
        """A metric as a float (a yes/no as 1 or 0); NaN when missing, null or not a number.
        ``diverged`` is 1 for a run that diverged and 0 for any other; ``<column>@<epoch>`` is a
        per-epoch column after that epoch (``train_loss_running@1``: the running train loss of the first
        epoch)."""
        if key == "diverged":
            return float(self.status == "diverged")
        if "@" in key:
            column, _, epoch = key.partition("@")
            values = self.epochs.get(column, np.array([]))
            epochs = self.epochs.get("epoch", np.array([]))
            at = np.flatnonzero(epochs == float(epoch)) if epoch.isdigit() else np.array([], dtype=int)
            return float(values[at[0]]) if len(at) else np.nan
        value = self.metrics.get(key)
        return float(value) if isinstance(value, (int, float)) else np.nan

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON data (its per-epoch columns as lists)."""
        return {
            "source": str(self.source),
            "status": self.status,
            "seed": self.seed,
            "settings": self.settings,
            "metrics": self.metrics,
            "used": self.used,
            "epochs": {k: v.tolist() for k, v in self.epochs.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunRecord":
        return cls(
            settings=data["settings"],
            metrics=data["metrics"],
            seed=data.get("seed"),
            source=Path(data.get("source", "")),
            status=data.get("status", "completed"),
            used=data.get("used", {}),
            epochs={k: np.array(v, dtype=float) for k, v in data.get("epochs", {}).items()},
        )


def metric_names(records: Sequence[RunRecord]) -> list[str]:
    """The metrics the records report as numbers, in order of first appearance, and ``diverged``."""
    numbers = (k for r in records for k, v in r.metrics.items() if _is_number(v))
    return [*dict.fromkeys(numbers), "diverged"]


def require_metric(records: Sequence[RunRecord], metric: str) -> None:
    """metric is a number some record reports (or ``<epochs.csv column>@<epoch>``); else a
    UserError listing them."""
    column, at, epoch = metric.partition("@")
    columns = {c for r in records for c in r.epochs}
    if metric in metric_names(records) or (at and epoch.isdigit() and column in columns):
        return
    listed = ", ".join(metric_names(records))
    raise UserError(f"--metric {metric}: not a metric of these runs; they report: {listed} (or COLUMN@EPOCH)")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def write_records(path: Path, records: Sequence[RunRecord]) -> None:
    """records.jsonl: one record per line."""
    path.write_text("".join(json.dumps(r.as_dict()) + "\n" for r in records))


def read_records(path: Path) -> list[RunRecord]:
    """The records of a records.jsonl."""
    return [RunRecord.from_dict(json.loads(line)) for line in path.read_text().splitlines() if line]
