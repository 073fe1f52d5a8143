"""The end of every sweep: ``results.csv``, ``best.yaml`` and a table of its configurations.

A configuration is the trials whose overrides differ only in the seed (``trainer.seed`` or ``seed``)
or in bookkeeping keys; they are ranked as the report ranks them (:mod:`netopt.report.ranking`): by
the mean of the objective over their distinct seeds in the metric's direction, those whose difference
from the best has a 95% interval holding 0 sharing rank 1 (``=1``), so that the table, best.yaml,
results.csv and the report name one winner. ``results.csv`` has one row per trial (its latest job when
a trial ran several, as Hyperband's promoted trials do; wall time summed over its jobs), the
configurations in rank order: rank, trial, one column per hyperparameter, the objective under its
metric's name (``val_acc``), the train/val/test accuracies the trial reported, status, epochs
trained, wall time, run folder and the error line of a failed trial. ``best.yaml`` names the best
configuration: its mean objective with its interval, seeds, trials, run folders, the overrides that
rerun it (without the seed) and the configurations indistinguishable from it. The table has one row
per configuration and shows only the hyperparameters that vary, under short names, and fits 80
columns when not on a terminal.
"""

import csv
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from rich import box
from rich.table import Table

from netopt.console import duration, stdout_console
from netopt.hpo.trials import Record, has_objective, latest_per_trial, metric_key
from netopt.labels import bookkeeping, short_names, varying_keys
from netopt.metrics import natural_range
from netopt.report.records import SEED_KEYS

if TYPE_CHECKING:  # the ranking (scipy) is imported when a sweep is summarized, not at Hydra's start
    from netopt.report.ranking import Standing
    from netopt.report.stats import Estimate

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


@dataclass(frozen=True)
class Configuration:
    """The trials of one configuration (their overrides without the seed and bookkeeping keys) and
    where it stands among the sweep's configurations."""

    params: dict[str, Any]
    trials: list[Record]
    standing: "Standing"


def configurations(rows: Sequence[Record], metric: str, maximize: bool) -> list[Configuration]:
    """The trials grouped into configurations, best first (:func:`netopt.report.ranking.rank`)."""
    from netopt.report.ranking import rank

    groups: dict[str, list[Record]] = {}
    for r in rows:
        groups.setdefault(repr(sorted(_configuration(r.params).items())), []).append(r)
    members = list(groups.values())
    samples = [[(_seed(r), r.objective) for r in g if has_objective(r)] for g in members]
    order = rank(samples, maximize, natural_range(metric_key(metric)))
    return [Configuration(_configuration(members[i][0].params), members[i], s) for i, s in order]


def _configuration(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k.lstrip("+~") not in SEED_KEYS and not bookkeeping(k)}


def _seed(record: Record) -> str | None:
    """The trial's seed as an override gives it (None: the task's default)."""
    seed = next((record.params[k] for k in record.params if k.lstrip("+~") in SEED_KEYS), None)
    return None if seed is None else str(seed)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_results(
    sweep_dir: Path, configs: Sequence[Configuration], names: Sequence[str], metric: str
) -> None:
    key = metric_key(metric)
    accuracies = [a for a in ACCURACIES if a != key]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["rank", "trial", *names, key, *accuracies, "status", "epochs", "wall_time_s", "run_dir", "error"]
    )
    for c in configs:
        for r in c.trials:
            params = [r.params.get(n, "") for n in names]
            reported = [r.metrics.get(a) for a in accuracies]
            writer.writerow(
                [c.standing.shown_rank, r.trial, *params, r.objective, *reported]
                + [r.status, r.epochs, r.wall_time_s, r.run_dir, r.error]
            )
    _write_atomic(sweep_dir / "results.csv", out.getvalue())


def write_best(sweep_dir: Path, configs: Sequence[Configuration], metric: str, maximize: bool) -> None:
    content: dict[str, Any] = {"metric": metric, "direction": "maximize" if maximize else "minimize"}
    best = configs[0] if configs and configs[0].standing.rank is not None else None
    if best is not None:
        estimate = best.standing.estimate
        done = [r for r in best.trials if has_objective(r)]
        content |= {
            "objective": estimate.mean,  # the mean over its distinct seeds
            "interval": [estimate.low, estimate.high] if estimate.has_interval else None,
            "seeds": estimate.n,
            "runs": estimate.runs,
            "trials": [r.trial for r in done],
            "run_dirs": [r.run_dir for r in done],
            "epochs": done[0].epochs,
            "params": dict(best.params),
            "overrides": overrides(best.params),
            "indistinguishable": [
                {"params": dict(c.params), "objective": c.standing.estimate.mean}
                for c in configs[1:]
                if c.standing.tied
            ],
        }
    _write_atomic(sweep_dir / "best.yaml", yaml.safe_dump(content, sort_keys=False))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _joined(values: Sequence[Any]) -> str:
    """One value when all are equal, else the distinct ones joined by commas."""
    distinct = list(dict.fromkeys("" if v is None else _cell(v) for v in values))
    return ",".join(distinct)


def table(configs: Sequence[Configuration], metric: str, maximize: bool, width: int = 80) -> Table:
    """The configurations, given best first (at most MAX_ROWS), those tied with the best highlighted;
    errors go below it.

    Each row: rank (``=1``: indistinguishable from the best), the configuration's trials, the
    hyperparameters whose value differs between configurations, headed by their short name (``lr``
    for ``optimizer.lr``), the metric's mean over seeds with its interval, the seeds (when trials
    were pooled), status and epochs (only when they differ) and the time of its trials. Cells never
    wrap: when the table is wider than width, the widest trial and hyperparameter values are cut to
    end in an ellipsis (not below 8 characters or their header), never a header or the other columns.
    """
    trials = [r for c in configs for r in c.trials]
    counts = {s: sum(r.status == s for r in trials) for s in ("completed", "diverged", "failed")}
    title = f"{len(trials)} trials: " + ", ".join(f"{n} {s}" for s, n in counts.items())
    if len(configs) < len(trials):
        title += f"; {len(configs)} configurations"
    caption = f"{metric}, {'max' if maximize else 'min'}imized: mean [95% CI] over seeds"
    if any(c.standing.shown_rank == "=1" for c in configs):
        caption += "; =1: tied with the best"
    if len(configs) > MAX_ROWS:
        caption += f"; {len(configs) - MAX_ROWS} more in results.csv"
    names = short_names(varying_keys([c.params for c in configs]))
    pooled = len(configs) < len(trials)
    columns: list[tuple[str, list[Any]]] = [("rank", [c.standing.shown_rank for c in configs])]
    columns += [("trials" if pooled else "trial", [_joined([r.trial for r in c.trials]) for c in configs])]
    columns += [(short, [c.params.get(key) for c in configs]) for key, short in names.items()]
    columns += [(metric, [str(c.standing.estimate) for c in configs])]
    columns += [("seeds", [_seeds(c.standing.estimate) for c in configs])] if pooled else []
    columns += [
        (h, v)
        for h, v in (
            ("status", [_joined([r.status for r in c.trials]) for c in configs]),
            ("epochs", [_joined([r.epochs for r in c.trials]) for c in configs]),
        )
        if len(set(v)) > 1
    ]
    columns += [("time", [_time(c.trials) for c in configs])]
    cells = [[_cell(v) for v in values[:MAX_ROWS]] for _, values in columns]
    natural = [max([len(h), *map(len, c)]) for (h, _), c in zip(columns, cells, strict=True)]
    floors = [
        max(len(h), min(n, 8)) if 0 < i <= len(names) + 1 else n
        for i, ((h, _), n) in enumerate(zip(columns, natural, strict=True))
    ]
    widths = _fit(natural, floors, width - GAP * (len(columns) - 1))
    tab = Table(
        title=title,
        min_width=min(max(len(title), len(caption)), width),  # the title and caption on one line each
        caption=caption,
        box=box.SIMPLE_HEAVY,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for (header, _), w in zip(columns, widths, strict=True):
        right = header in (metric, "seeds", "time")
        tab.add_column(
            header, no_wrap=True, overflow="ellipsis", max_width=w, justify="right" if right else "left"
        )
    for row, c in zip(zip(*cells, strict=True), configs, strict=False):
        tab.add_row(*row, style="bold green" if c.standing.tied else None)
    return tab


def _seeds(estimate: "Estimate") -> str:
    """Distinct seeds, and the runs behind them when more."""
    return f"{estimate.n} ({estimate.runs} runs)" if estimate.runs > estimate.n else str(estimate.n)


def _time(trials: Sequence[Record]) -> str:
    times = [r.wall_time_s for r in trials if r.wall_time_s is not None]
    return duration(sum(times)) if times else ""


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
) -> Configuration | None:
    """Write results.csv and best.yaml (and print the table when show); return the best configuration."""
    sweep_dir = Path(sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    rows = trial_rows(records)
    names = list(dict.fromkeys(n for r in rows for n in r.params))
    configs = configurations(rows, metric, maximize)
    write_results(sweep_dir, configs, names, metric)
    write_best(sweep_dir, configs, metric, maximize)
    if show:
        console = stdout_console()
        console.print(table(configs, metric, maximize, console.width))
        for r in rows:
            if r.error:
                line = f"trial {r.trial} {r.status}: {r.error}"
                console.print(line, highlight=False, no_wrap=True, overflow="ellipsis")
        written = f"written: {sweep_dir / 'results.csv'}, {sweep_dir / 'best.yaml'}"
        console.print(written, highlight=False, soft_wrap=True)  # paths whole, to copy
    return configs[0] if configs and configs[0].standing.rank is not None else None
