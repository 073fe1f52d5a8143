"""The end of every sweep: ``results.csv``, ``best.yaml`` and a table of the trials.

``results.csv`` has one row per trial (its latest job when a trial ran several, as Hyperband's
promoted trials do; wall time summed over its jobs): trial, one column per hyperparameter, the
objective under its metric's name (``val_acc``), the train/val/test accuracies the trial reported,
status, epochs trained, wall time, run folder and the error line of a failed trial. ``best.yaml``
names the best completed trial, its parameters and the overrides that rerun it. The table shows
only the hyperparameters that vary, under short names, and fits 80 columns when not on a terminal.
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
from rich import box
from rich.table import Table

from netopt.console import duration, stdout_console
from netopt.hpo.trials import Record, has_objective, latest_per_trial, metric_key, ranked
from netopt.labels import short_names, varying_keys

MAX_ROWS = 20
GAP = 2  # characters between two columns of the table
#: Accuracies results.csv carries from each trial's metrics, besides its objective.
ACCURACIES = ("train_acc", "val_acc", "test_acc")


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


def write_results(sweep_dir: Path, rows: Sequence[Record], names: Sequence[str], metric: str) -> None:
    key = metric_key(metric)
    accuracies = [a for a in ACCURACIES if a != key]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["trial", *names, key, *accuracies, "status", "epochs", "wall_time_s", "run_dir", "error"]
    )
    for r in rows:
        params = [r.params.get(n, "") for n in names]
        reported = [r.metrics.get(a) for a in accuracies]
        writer.writerow(
            [r.trial, *params, r.objective, *reported, r.status, r.epochs, r.wall_time_s, r.run_dir, r.error]
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


def table(rows: Sequence[Record], metric: str, maximize: bool, width: int = 80) -> Table:
    """The trials, given best first (at most MAX_ROWS), the best one highlighted; errors go below it.

    Only the hyperparameters whose value differs between trials get a column, headed by its short
    name (``lr`` for ``optimizer.lr``); status and epochs too only when they differ. Cells never
    wrap: when the table is wider than width, the widest hyperparameter values are cut to end in an
    ellipsis (not below 8 characters or their header), never a header or the other columns.
    """
    counts = {s: sum(r.status == s for r in rows) for s in ("completed", "diverged", "failed")}
    title = f"{len(rows)} trials: " + ", ".join(f"{n} {s}" for s, n in counts.items())
    caption = f"{metric}, {'max' if maximize else 'min'}imized"
    if len(rows) > MAX_ROWS:
        caption += f"; {len(rows) - MAX_ROWS} more trials in results.csv"
    names = short_names(varying_keys([r.params for r in rows]))
    columns: list[tuple[str, list[Any]]] = [("trial", [r.trial for r in rows])]
    columns += [(short, [r.params.get(key) for r in rows]) for key, short in names.items()]
    columns += [(metric, [r.objective for r in rows])]
    columns += [
        (c, v)
        for c, v in (("status", [r.status for r in rows]), ("epochs", [r.epochs for r in rows]))
        if len(set(v)) > 1
    ]
    columns += [("time", ["" if r.wall_time_s is None else duration(r.wall_time_s) for r in rows])]
    cells = [[_cell(v) for v in values[:MAX_ROWS]] for _, values in columns]
    natural = [max([len(h), *map(len, c)]) for (h, _), c in zip(columns, cells, strict=True)]
    floors = [
        max(len(h), min(n, 8)) if 0 < i <= len(names) else n
        for i, ((h, _), n) in enumerate(zip(columns, natural, strict=True))
    ]
    widths = _fit(natural, floors, width - GAP * (len(columns) - 1))
    tab = Table(
        title=title,
        min_width=min(len(title), width),  # the title on one line
        caption=caption,
        box=box.SIMPLE_HEAVY,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for (header, _), w in zip(columns, widths, strict=True):
        right = header in (metric, "time")
        tab.add_column(
            header, no_wrap=True, overflow="ellipsis", max_width=w, justify="right" if right else "left"
        )
    for i, (row, r) in enumerate(zip(zip(*cells, strict=True), rows, strict=False)):
        tab.add_row(*row, style="bold green" if i == 0 and has_objective(r) else None)
    return tab


def _fit(widths: list[int], floors: list[int], room: int) -> list[int]:
    """Widths summing to at most room where the floors allow: the widest column above its floor
    gives up one character at a time."""
    widths = list(widths)
    while sum(widths) > room:
        shrinkable = [i for i, (w, f) in enumerate(zip(widths, floors, strict=True)) if w > f]
        if not shrinkable:
            break
        widths[max(shrinkable, key=widths.__getitem__)] -= 1
    return widths


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
    write_results(sweep_dir, rows, names, metric)
    write_best(sweep_dir, best, metric, maximize)
    if show:
        console = stdout_console()
        console.print(table(order, metric, maximize, console.width))
        for r in rows:
            if r.error:
                line = f"trial {r.trial} {r.status}: {r.error}"
                console.print(line, highlight=False, no_wrap=True, overflow="ellipsis")
        written = f"written: {sweep_dir / 'results.csv'}, {sweep_dir / 'best.yaml'}"
        console.print(written, highlight=False, soft_wrap=True)  # paths whole, to copy
    return best
