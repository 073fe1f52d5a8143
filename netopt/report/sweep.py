"""The report of a sweep folder: report.md, a self-contained report.html, the figures, runs.csv, claims.json.

The table has one row per configuration, best first by the report's metric: the swept keys, the
accuracies as mean ± half-width of the 95% interval over the completed runs' seeds, best epoch,
epochs, wall time per run and the runs by status. Runs that did not complete are listed with
their error line. runs.csv has one row per run with every numeric key of its metrics.json.
"""

import csv
import io
import math
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from netopt.console import duration
from netopt.errors import UserError
from netopt.labels import short_value
from netopt.report import figures
from netopt.report.claims import Claim, judge
from netopt.report.configs import Config, group, ranked, statuses
from netopt.report.document import Contents, write_documents
from netopt.report.records import RunRecord, require_metric
from netopt.report.runs import read_runs, read_yaml

#: The default metric is the first of these that a completed run reports.
METRICS = ("val_acc", "test_acc", "train_acc")
ACCURACIES = {"val_acc": "val acc", "test_acc": "test acc", "train_acc": "train acc"}
FIGURES = {
    "curves.png": "Training curves",
    "final.png": "Final accuracy per configuration",
    "sensitivity.png": "Sensitivity to the swept numbers",
    "gap.png": "Generalization gap",
}


def write_report(
    sweep_dir: Path | str, metric: str | None = None, claims: Sequence[Mapping[str, Any]] | None = None
) -> Path:
    """Write the report of every run below sweep_dir into it; return the path of report.html.

    metric (higher is better) ranks the configurations; default: val_acc, or the first of test_acc
    and train_acc a completed run has. claims default to ``hydra.callbacks.summary.claims`` of the
    folder's multirun.yaml (see :mod:`netopt.report.claims`).
    """
    folder = Path(sweep_dir)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    runs = read_runs(folder)
    if not runs:
        raise UserError(f"{folder}: no runs below it (no metrics.json at any depth)")
    multirun = read_yaml(folder / "multirun.yaml")
    if metric is not None:
        require_metric(runs, metric)
    metric = metric or _default_metric(runs)
    configs, names = group(runs)
    configs = ranked(configs, metric)
    verdicts = [judge(c, runs) for c in _claims(claims, multirun)]
    built = {
        "curves.png": figures.curves(configs),
        "final.png": figures.final(configs),
        "sensitivity.png": figures.sensitivity(configs, names, metric),
        "gap.png": figures.gap(configs),
    }
    for name, fig in built.items():
        if fig is not None:
            fig.savefig(folder / name, dpi=100)
    headers, numeric, rows = table(configs, names)
    contents = Contents(
        title=f"Sweep report: {folder.resolve().name}",
        folder=folder.resolve(),
        command=_command(multirun),
        summary=_summary(runs, configs, names, metric),
        verdicts=verdicts,
        headers=headers,
        numeric=numeric,
        rows=rows,
        stopped=_stopped_runs(runs, configs, folder),
        figures={name: FIGURES[name] for name, fig in built.items() if fig is not None},
        note=NOTE,
    )
    write_runs_csv(folder / "runs.csv", runs, names)
    return write_documents(contents)


def table(
    configs: Sequence[Config], names: Mapping[str, str]
) -> tuple[list[str], list[bool], list[list[str]]]:
    """Headers, which columns are numbers, and one row per configuration. Only the swept keys appear,
    and only the accuracies some completed run has."""
    accuracies = [k for k in ACCURACIES if any(c.estimate(k).n for c in configs)]
    headers = [
        *names.values(),
        *(ACCURACIES[k] for k in accuracies),
        "best epoch",
        "epochs",
        "time/run",
        "runs",
    ]
    numeric = [False] * len(names) + [True] * (len(accuracies) + 3) + [False]
    rows = [
        [
            *(short_value(c.params[k]) for k in names),
            *(str(c.estimate(k)) for k in accuracies),
            _mean(c, "best_epoch"),
            _mean(c, "epochs"),
            duration(c.estimate("wall_time_s").mean),
            c.statuses(),
        ]
        for c in configs
    ]
    return headers, numeric, rows


def write_runs_csv(path: Path, runs: Sequence[RunRecord], names: Mapping[str, str]) -> None:
    """One row per run: the swept keys, seed, status, run_dir, error and every numeric metrics.json key."""
    keys = [k for k in dict.fromkeys(k for r in runs for k in r.metrics) if _numeric_key(runs, k)]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*names, "seed", "status", "run_dir", "error", *keys])
    for r in runs:
        swept = [r.value(k) for k in names]
        metrics = ["" if r.metrics.get(k) is None else r.metrics[k] for k in keys]
        writer.writerow([*swept, r.seed, r.status, r.source, r.error, *metrics])
    path.write_text(out.getvalue())


NOTE = (
    "Accuracies: mean ± half-width of the 95% confidence interval (Student t) over the seeds of the "
    "completed runs; one seed: no interval. best epoch, epochs and time/run: mean over completed runs."
)


def _claims(given: Sequence[Mapping[str, Any]] | None, multirun: Any) -> list[Claim]:
    if given is not None:
        return [Claim.parse(raw, f"claims[{i}]") for i, raw in enumerate(given)]
    node: Any = multirun or {}
    for key in ("hydra", "callbacks", "summary", "claims"):
        node = node.get(key) if isinstance(node, Mapping) else None
    return [Claim.parse(raw, f"hydra.callbacks.summary.claims[{i}]") for i, raw in enumerate(node or [])]


def _command(multirun: Any) -> str:
    task = ((multirun or {}).get("hydra", {}).get("overrides", {}) or {}).get("task")
    return "" if task is None else "netopt-train -m " + shlex.join(map(str, task))


def _summary(
    runs: Sequence[RunRecord], configs: Sequence[Config], names: Mapping[str, str], metric: str
) -> str:
    swept = ", ".join(names) if names else "nothing (one configuration)"
    return (
        f"{len(runs)} runs ({statuses(runs)}) in {len(configs)} configurations; swept: {swept}. "
        f"Configurations are ranked by mean {metric}."
    )


def _stopped_runs(
    runs: Sequence[RunRecord], configs: Sequence[Config], folder: Path
) -> list[tuple[str, str]]:
    """Folder and ``diverged (optimizer=sgd, lr=1.0, seed 2): error`` of each run that did not complete."""
    labels = {r.source: c.label for c in configs for r in c.runs}
    return [
        (
            str(r.source.relative_to(folder)),
            f"{r.status} ({labels[r.source]}, seed {r.seed})" + _colon(r.error),
        )
        for r in runs
        if r.status != "completed"
    ]


def _colon(text: str) -> str:
    return f": {text}" if text else ""


def _default_metric(runs: Sequence[RunRecord]) -> str:
    done = [r for r in runs if r.status == "completed"]
    return next((m for m in METRICS if any(math.isfinite(r.number(m)) for r in done)), METRICS[0])


def _mean(config: Config, key: str) -> str:
    mean = config.estimate(key).mean
    return "-" if math.isnan(mean) else f"{mean:.3g}"


def _numeric_key(runs: Sequence[RunRecord], key: str) -> bool:
    values = [r.metrics.get(key) for r in runs]
    return all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values)
