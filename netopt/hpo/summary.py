"""The end of every sweep: ``results.csv``, ``best.yaml`` and a table of the trials.

``results.csv`` has one row per trial (its latest job when a trial ran several, as Hyperband's
promoted trials do; wall time summed over its jobs): trial, one column per hyperparameter, the
objective, status, epochs trained, wall time, run folder and the error line of a failed trial.
``best.yaml`` names the best completed trial, its parameters and the overrides that rerun it.
"""

import csv
import io
import os
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from netopt.hpo.trials import Record, has_objective, latest_per_trial, ranked

MAX_ROWS = 20


_PLAIN = re.compile(r"[A-Za-z_][\w\-./]*")
_KEYWORDS = {"true", "false", "null", "inf", "nan"}


def format_value(value: Any) -> str:
    """A value written the way Hydra's override grammar reads it back (strings quoted when needed)."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(map(format_value, value)) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{format_value(k)}:{format_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str) and (not _PLAIN.fullmatch(value) or value.lower() in _KEYWORDS):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(value) if isinstance(value, float) else str(value)


def overrides(params: dict[str, Any]) -> list[str]:
    """``key=value`` overrides for a configuration."""
    return [f"{k}={format_value(v)}" for k, v in params.items()]


def trial_rows(records: Sequence[Record]) -> list[Record]:
    """One record per trial: its latest job, with the wall time of all its jobs."""
    rows = []
    for last in latest_per_trial(records):
        times = [r.wall_time_s for r in records if r.trial == last.trial and r.wall_time_s is not None]
        rows.append(replace(last, wall_time_s=sum(times) if times else None))
    return rows


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_results(sweep_dir: Path, rows: Sequence[Record], names: Sequence[str]) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["trial", *names, "objective", "status", "epochs", "wall_time_s", "run_dir", "error"])
    for r in rows:
        params = [r.params.get(n, "") for n in names]
        writer.writerow(
            [r.trial, *params, r.objective, r.status, r.epochs, r.wall_time_s, r.run_dir, r.error]
        )
    _write_atomic(sweep_dir / "results.csv", out.getvalue())


def write_best(sweep_dir: Path, best: Record | None, metric: str, maximize: bool) -> None:
    content: dict[str, Any] = {"metric": metric, "direction": "maximize" if maximize else "minimize"}
    if best is not None:
        content |= {
            "trial": best.trial,
            "objective": best.objective,
            "epochs": best.epochs,
            "run_dir": best.run_dir,
            "params": dict(best.params),
            "overrides": overrides(best.params),
        }
    _write_atomic(sweep_dir / "best.yaml", yaml.safe_dump(content, sort_keys=False))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def table(rows: Sequence[Record], names: Sequence[str], metric: str, maximize: bool) -> Table:
    """The trials, given best first (at most MAX_ROWS), the best one highlighted; errors go below it."""
    counts = {s: sum(r.status == s for r in rows) for s in ("completed", "diverged", "failed")}
    title = f"{len(rows)} trials: " + ", ".join(f"{n} {s}" for s, n in counts.items())
    tab = Table(title=title, caption=f"{metric}, {'max' if maximize else 'min'}imized")
    tab.add_column("trial", no_wrap=True)
    for column in names:
        tab.add_column(column, overflow="fold", max_width=24)
    for column in [metric, "status", "epochs", "time (s)"]:
        tab.add_column(column, no_wrap=True)
    for i, r in enumerate(rows[:MAX_ROWS]):
        time = None if r.wall_time_s is None else f"{r.wall_time_s:.1f}"
        cells = [r.trial, *(r.params.get(n) for n in names), r.objective, r.status, r.epochs, time]
        tab.add_row(*map(_cell, cells), style="bold green" if i == 0 and has_objective(r) else None)
    if len(rows) > MAX_ROWS:
        tab.add_row(f"... {len(rows) - MAX_ROWS} more in results.csv")
    return tab


def write_summary(
    sweep_dir: Path | str, records: Sequence[Record], metric: str, maximize: bool, show: bool = False
) -> Record | None:
    """Write results.csv and best.yaml (and print the table when show); return the best trial."""
    sweep_dir = Path(sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    rows = trial_rows(records)
    names = list(dict.fromkeys(n for r in rows for n in r.params))
    order = ranked(rows, maximize)
    best = order[0] if order and has_objective(order[0]) else None
    write_results(sweep_dir, rows, names)
    write_best(sweep_dir, best, metric, maximize)
    if show:
        console = Console()
        console.print(table(order, names, metric, maximize))
        for r in rows:
            if r.error:
                console.print(f"trial {r.trial} {r.status}: {r.error}", highlight=False, overflow="ellipsis")
        console.print(f"written: {sweep_dir / 'results.csv'}, {sweep_dir / 'best.yaml'}", highlight=False)
    return best
