"""Trials, their outcomes, and the journal that lets an interrupted sweep resume.

A job is one launch of the task: a trial (a configuration with a stable id and run folder) and,
for Hyperband, the number of epochs it should have trained in total when the job ends. A record is
a job plus its outcome. The journal (``journal.jsonl`` in the sweep folder) gets a ``pending``
line before each launch and the outcome line after it; reading it back gives the latest record per
job, so a re-run skips finished jobs and relaunches the ones that were cut off.
"""

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from netopt.errors import UserError

FINISHED = ("completed", "diverged", "failed")


@dataclass(frozen=True)
class Job:
    """One launch: trial id, its configuration, the epoch budget (None: the task's own), and for
    population-based training the trial whose checkpoint it continues (None: its own)."""

    trial: int
    params: dict[str, Any]
    budget: int | None = None
    parent: int | None = field(default=None, kw_only=True)  # after Record's fields, as a keyword

    @property
    def key(self) -> tuple[int, int | None]:
        return self.trial, self.budget


@dataclass(frozen=True)
class Record(Job):
    """A job and its outcome; objective is the raw metric (NaN unless completed)."""

    status: str = "pending"
    objective: float = math.nan
    epochs: int | None = None
    wall_time_s: float | None = None
    run_dir: str = ""
    error: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @classmethod
    def pending(cls, job: Job) -> "Record":
        return cls(job.trial, dict(job.params), job.budget, parent=job.parent)

    def job(self) -> Job:
        return Job(self.trial, dict(self.params), self.budget, parent=self.parent)


def metric_key(metric: str) -> str:
    """The metrics-dict key of a metric name: ``val/acc`` and ``val_acc`` both mean ``val_acc``."""
    return metric.replace("/", "_")


def outcome(job: Job, value: Any, metric: str) -> Record:
    """The record of a job whose task returned value (a number, a metrics dict, or an exception).

    A metrics dict gives ``status`` (default completed), the metric, ``epochs``, ``wall_time_s`` and
    ``error``. An exception makes the trial failed with its first line as error; a completed trial
    whose objective is NaN or infinite counts as diverged. Raises KeyError when the result of a
    completed trial has no such metric.
    """
    if isinstance(value, BaseException):
        line = (str(value).strip().splitlines() or [""])[0]
        return replace(
            Record.pending(job), status="failed", error=f"{type(value).__name__}: {line}".strip(": ")
        )
    key = metric_key(metric)
    metrics: dict[str, Any] = (
        dict(value) if isinstance(value, Mapping) else {key: value} if isinstance(value, (int, float)) else {}
    )
    status = str(metrics.get("status", "completed"))
    if status == "completed" and key not in metrics:
        raise KeyError(key)
    objective = metrics.get(key) if status == "completed" else None
    objective = math.nan if objective is None else float(objective)
    if status == "completed" and not math.isfinite(objective):
        status = "diverged"
    return replace(
        Record.pending(job),
        status=status,
        objective=objective,
        epochs=metrics.get("epochs"),
        wall_time_s=metrics.get("wall_time_s"),
        error=str(metrics.get("error") or ("objective is not finite" if status == "diverged" else "")),
        metrics={k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool)) or v is None},
    )


def score(record: Record, maximize: bool) -> float:
    """The objective as 'larger is better' (NaN unless completed)."""
    return record.objective if maximize else -record.objective


def has_objective(record: Record) -> bool:
    """Whether the record is completed with a finite objective."""
    return record.status == "completed" and math.isfinite(record.objective)


def ranked(records: Iterable[Record], maximize: bool) -> list[Record]:
    """Records with an objective best first (ties by trial id), then the others by trial id."""
    records = list(records)
    good = sorted(filter(has_objective, records), key=lambda r: (-score(r, maximize), r.trial))
    return good + sorted((r for r in records if not has_objective(r)), key=lambda r: r.trial)


def latest_per_trial(records: Iterable[Record]) -> list[Record]:
    """For each trial the record with the largest budget, by trial id (the row of results.csv)."""
    latest: dict[int, Record] = {}
    for r in records:
        if r.trial not in latest or (r.budget or 0) >= (latest[r.trial].budget or 0):
            latest[r.trial] = r
    return [latest[t] for t in sorted(latest)]


class Journal:
    """Append-only log of records in ``<sweep dir>/journal.jsonl``; the last line per job wins."""

    def __init__(self, sweep_dir: Path | str) -> None:
        self.path = Path(sweep_dir) / "journal.jsonl"

    def read(self) -> list[Record]:
        """The latest record per job. A line cut short by an interruption (not JSON) is skipped; JSON
        that is not a record is a UserError naming the line."""
        if not self.path.exists():
            return []
        latest: dict[tuple[int, int | None], Record] = {}
        for number, line in enumerate(self.path.read_text(errors="replace").splitlines(), 1):
            try:
                data = json.loads(line)
            except ValueError:  # a line cut short by an interruption
                continue
            record = _record(data)
            if record is None:
                raise UserError(
                    f"{self.path}: line {number} is not a record of a trial ({line[:60]}); "
                    "remove the line, or choose another hydra.sweep.dir"
                )
            latest[record.key] = record
        return list(latest.values())

    def append(self, records: Sequence[Record]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            for r in records:
                f.write(json.dumps(asdict(r), default=str) + "\n")
            f.flush()


def _record(data: Any) -> Record | None:
    """A journal line's record; None when it is not one (a key missing or unknown, a wrong type)."""
    try:
        record = Record(**data)
    except TypeError:
        return None
    typed = (
        isinstance(record.trial, int)
        and isinstance(record.params, dict)
        and (record.budget is None or isinstance(record.budget, int))
        and (record.parent is None or isinstance(record.parent, int))
        and isinstance(record.status, str)
        and isinstance(record.objective, (int, float))
        and isinstance(record.metrics, dict)
    )
    return record if typed else None
