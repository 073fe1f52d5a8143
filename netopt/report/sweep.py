"""The report of a sweep folder: report.md, a self-contained report.html, the figures, runs.csv, claims.json.

The table has one row per configuration, ranked by the sweep's metric in its direction
(:mod:`netopt.report.ranking`: the best first, those indistinguishable from it sharing rank 1): the
swept keys, the ranked metric and its difference from the best, the accuracies as mean and 95%
interval over the completed runs' distinct seeds (:mod:`netopt.report.stats`), best epoch, epochs,
wall time per run and the runs by status. Runs that did not complete are listed with their error
line. runs.csv has one row per run with every numeric key of its metrics.json.
"""

import csv
import io
import math
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from netopt.console import duration
from netopt.errors import UserError
from netopt.labels import short_value
from netopt.metrics import natural_direction, natural_range
from netopt.report import figures
from netopt.report.claims import Claim, judge
from netopt.report.configs import Config, group, ranked, statuses
from netopt.report.document import Contents, write_documents
from netopt.report.histograms import histogram_figures
from netopt.report.ranking import Standing
from netopt.report.records import RunRecord, require_metric
from netopt.report.runs import read_runs, read_yaml
from netopt.report.series import series_figures
from netopt.report.stats import METHOD, MIN_SAMPLES

#: The default metric (without a sweep's own) is the first of these that a completed run reports: an
#: accuracy, or for runs without one (an autoencoder's, netopt.tasks) a loss.
METRICS = ("val_acc", "test_acc", "train_acc", "val_loss", "test_loss")
DIRECTIONS = ("maximize", "minimize")
ACCURACIES = {"val_acc": "val acc", "test_acc": "test acc", "train_acc": "train acc"}
FIGURES = {
    "curves.png": "Training curves",
    "final.png": "Final accuracy per configuration",
    "sensitivity.png": "Sensitivity to the swept numbers",
    "gap.png": "Generalization gap",
}


def write_report(
    sweep_dir: Path | str,
    metric: str | None = None,
    claims: Sequence[Mapping[str, Any]] | None = None,
    direction: str | None = None,
    series: Sequence[str] | None = None,
) -> Path:
    """Write the report of every run below sweep_dir into it; return the path of report.html.

    metric ranks the configurations in its direction (``maximize`` or ``minimize``); default: the
    sweep's metric and direction from the folder's multirun.yaml, else val_acc, or the first of
    test_acc, train_acc, val_loss and test_loss a completed run has, in the direction its name says
    (accuracies up, losses down). claims default to ``hydra.callbacks.summary.claims`` of the folder's
    multirun.yaml (see :mod:`netopt.report.claims`), series (TensorBoard tag patterns: scalars drawn
    over training, :mod:`netopt.report.series`; histograms at initialization and after training,
    :mod:`netopt.report.histograms`) to ``hydra.callbacks.summary.series``.
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
    swept_metric, swept_direction = _sweep_objective(multirun)
    metric = metric or swept_metric or _default_metric(runs)
    maximize = _maximize(metric, direction or (swept_direction if metric == swept_metric else None))
    grouped, names = group(runs)
    standings = ranked(grouped, metric, maximize)
    configs = [c for c, _ in standings]
    verdicts = [judge(c, runs) for c in _claims(claims, multirun)]
    built: dict[str, Figure | None] = {
        "curves.png": figures.curves(configs),
        "final.png": figures.final(configs),
        "sensitivity.png": figures.sensitivity(configs, names, metric),
        "gap.png": figures.gap(configs),
    }
    headings = {name: FIGURES[name] for name, fig in built.items() if fig is not None}
    patterns = series if series is not None else _summary_setting(multirun, "series")
    for stale in [*folder.glob("series_*.png"), *folder.glob("histograms_*.png")]:  # an earlier report's
        stale.unlink()
    for i, (heading, drawn) in enumerate(series_figures(configs, patterns), 1):
        built[f"series_{i}.png"], headings[f"series_{i}.png"] = drawn, heading
    for i, (heading, drawn) in enumerate(histogram_figures(configs, patterns), 1):
        built[f"histograms_{i}.png"], headings[f"histograms_{i}.png"] = drawn, heading
    for name, figure in built.items():
        if figure is not None:
            figure.savefig(folder / name, dpi=100)
    headers, numeric, rows = table(standings, names, metric)
    contents = Contents(
        title=f"Sweep report: {folder.resolve().name}",
        folder=folder.resolve(),
        command=_command(multirun),
        summary=_summary(runs, standings, names, metric, maximize),
        verdicts=verdicts,
        headers=headers,
        numeric=numeric,
        rows=rows,
        stopped=_stopped_runs(runs, configs, folder),
        figures=headings,
        note=_note(metric),
    )
    write_runs_csv(folder / "runs.csv", runs, names)
    return write_documents(contents)


def table(
    standings: Sequence[tuple[Config, Standing]], names: Mapping[str, str], metric: str
) -> tuple[list[str], list[bool], list[list[str]]]:
    """Headers, which columns are numbers, and one row per configuration, ranked: its rank, the swept
    keys, the metric it is ranked by (under its own name) and its difference from the best, the other
    accuracies some completed run has."""
    configs = [c for c, _ in standings]
    accuracies = [k for k in ACCURACIES if k != metric and any(c.estimate(k).n for c in configs)]
    headers = [
        "rank",
        *names.values(),
        metric,
        "vs best",
        *(ACCURACIES[k] for k in accuracies),
        "best epoch",
        "epochs",
        "time/run",
        "runs",
    ]
    numeric = [True] + [False] * len(names) + [True] * (len(accuracies) + 5) + [False]
    rows = [
        [
            s.shown_rank,
            *(short_value(c.params[k]) for k in names),
            str(s.estimate),
            s.versus_text,
            *(str(c.estimate(k)) for k in accuracies),
            _mean(c, "best_epoch"),
            _mean(c, "epochs"),
            duration(c.estimate("wall_time_s").mean),
            c.statuses(),
        ]
        for c, s in standings
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


def _note(metric: str) -> str:
    """How to read the table's numbers: the intervals' method, the comparison with the best."""
    unbounded = "" if natural_range(metric) else f" ({metric}: {METHOD[False]})"
    return (
        f"Numbers: mean [95% interval] over the distinct seeds of the completed runs (runs with the same "
        f"seed count once); accuracies: {METHOD[True]}, which stays in [0, 1]{unbounded}. One seed: no "
        f"interval; fewer than {MIN_SAMPLES}: too few for one; identical over the seeds: the runs are "
        f"deterministic duplicates. vs best: the difference from the best configuration's mean with its "
        f"95% interval, paired by seed where the two share {MIN_SAMPLES} or more seeds, else Welch's; "
        f"rank =1: indistinguishable from the best (the interval holds 0). best epoch, epochs and "
        f"time/run: mean over completed runs."
    )


def _claims(given: Sequence[Mapping[str, Any]] | None, multirun: Any) -> list[Claim]:
    if given is not None:
        return [Claim.parse(raw, f"claims[{i}]") for i, raw in enumerate(given)]
    raw_claims = _summary_setting(multirun, "claims")
    return [Claim.parse(raw, f"hydra.callbacks.summary.claims[{i}]") for i, raw in enumerate(raw_claims)]


def _summary_setting(multirun: Any, key: str) -> list[Any]:
    """A list setting of the sweep's summary callback (``hydra.callbacks.summary.<key>``) in
    multirun.yaml; empty without one."""
    node: Any = multirun or {}
    for part in ("hydra", "callbacks", "summary", key):
        node = node.get(part) if isinstance(node, Mapping) else None
    return list(node or [])


def _command(multirun: Any) -> str:
    task = ((multirun or {}).get("hydra", {}).get("overrides", {}) or {}).get("task")
    return "" if task is None else "netopt-train -m " + shlex.join(map(str, task))


def _summary(
    runs: Sequence[RunRecord],
    standings: Sequence[tuple[Config, Standing]],
    names: Mapping[str, str],
    metric: str,
    maximize: bool,
) -> str:
    swept = ", ".join(names) if names else "nothing (one configuration)"
    text = (
        f"{len(runs)} runs ({statuses(runs)}) in {len(standings)} configurations; swept: {swept}. "
        f"Configurations are ranked by mean {metric} ({'higher' if maximize else 'lower'} is better)"
    )
    best = [c.label for c, s in standings if s.tied]
    if len(best) > 1:
        text += f"; {len(best) - 1} indistinguishable from the best ({best[0]}): {'; '.join(best[1:])}"
    elif best:
        text += f"; best: {best[0]}"
    estimates = [s.estimate for _, s in standings if s.estimate.n >= 2]
    if any(s.estimate.n for _, s in standings) and all(s.estimate.n < MIN_SAMPLES for _, s in standings):
        text += (
            f". Fewer than {MIN_SAMPLES} seeds per configuration are too few for an interval or a "
            f"comparison: sweep {MIN_SAMPLES} or more (trainer.seed={','.join(map(str, range(MIN_SAMPLES)))})"
        )
    if estimates and all(e.duplicates for e in estimates):
        text += (
            f". The seeds give identical {metric}: the runs are deterministic duplicates, "
            "so there is no interval"
        )
    return text + "."


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


def _sweep_objective(multirun: Any) -> tuple[str | None, str | None]:
    """The metric and direction the sweep optimized (its sweeper's or its summary callback's), from
    multirun.yaml; None for what it does not say."""
    hydra = _mapping(multirun).get("hydra")
    for node in (_mapping(hydra).get("sweeper"), _mapping(_mapping(hydra).get("callbacks")).get("summary")):
        if isinstance(node, Mapping) and node.get("metric"):
            return str(node["metric"]).replace("/", "_"), node.get("direction")
    return None, None


def _mapping(node: Any) -> Mapping[str, Any]:
    return node if isinstance(node, Mapping) else {}


def _maximize(metric: str, direction: str | None) -> bool:
    """Whether a larger metric is better: as given, else as its name says."""
    if direction is None:
        direction = {"max": "maximize", "min": "minimize", None: None}[natural_direction(metric)]
    if direction not in DIRECTIONS:
        shown = "nothing" if direction is None else direction
        raise UserError(
            f"--direction={shown}: {metric} has no direction of its own; give maximize or minimize"
        )
    return direction == "maximize"


def _default_metric(runs: Sequence[RunRecord]) -> str:
    done = [r for r in runs if r.status == "completed"]
    return next((m for m in METRICS if any(math.isfinite(r.number(m)) for r in done)), METRICS[0])


def _mean(config: Config, key: str) -> str:
    mean = config.estimate(key).mean
    return "-" if math.isnan(mean) else f"{mean:.3g}"


def _numeric_key(runs: Sequence[RunRecord], key: str) -> bool:
    values = [r.metrics.get(key) for r in runs]
    return all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values)
