"""The report of a sweep folder: report.md, a self-contained report.html, the figures, runs.csv, claims.json.

The table has one row per configuration, best first by the report's metric: the swept keys, the
accuracies as mean ± half-width of the 95% interval over the completed runs' seeds, best epoch,
epochs, wall time per run and the runs by status. Runs that did not complete are listed with
their error line. runs.csv has one row per run with every numeric key of its metrics.json.
"""

import base64
import csv
import html
import io
import json
import math
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netopt.console import duration
from netopt.errors import UserError
from netopt.labels import short_value
from netopt.report import figures
from netopt.report.claims import Claim, Verdict, check
from netopt.report.configs import Config, group, ranked, statuses
from netopt.report.runs import Run, read_runs, read_yaml

#: The default metric is the first of these that a completed run reports.
METRICS = ("val_acc", "test_acc", "train_acc")
ACCURACIES = {"val_acc": "val acc", "test_acc": "test acc", "train_acc": "train acc"}
FIGURES = {
    "curves.png": "Training curves",
    "final.png": "Final accuracy per configuration",
    "sensitivity.png": "Sensitivity to the swept numbers",
    "gap.png": "Generalization gap",
}


@dataclass(frozen=True)
class Contents:
    """What both renderings show."""

    title: str
    folder: Path
    command: str
    summary: str
    verdicts: list[Verdict]
    headers: list[str]
    numeric: list[bool]  # per column: right-aligned
    rows: list[list[str]]
    stopped: list[tuple[str, str]]  # run folder and what happened, for runs that did not complete
    figures: dict[str, str]  # file name in the folder -> its heading
    note: str = ""  # below the table: how to read its numbers
    records: str = "runs.csv"  # the file with every run's numbers


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
    metric = metric or _default_metric(runs)
    configs, names = group(runs)
    configs = ranked(configs, metric)
    verdicts = [check(c, runs) for c in _claims(claims, multirun)]
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


def write_documents(contents: Contents) -> Path:
    """Write report.md, report.html and, with verdicts, claims.json into the contents' folder (where
    its figures are); return the path of report.html."""
    folder = contents.folder
    if contents.verdicts:
        verdicts = [v.as_dict() for v in contents.verdicts]
        (folder / "claims.json").write_text(json.dumps(verdicts, indent=2) + "\n")
    (folder / "report.md").write_text(markdown(contents))
    (folder / "report.html").write_text(to_html(contents))
    return folder / "report.html"


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


def write_runs_csv(path: Path, runs: Sequence[Run], names: Mapping[str, str]) -> None:
    """One row per run: the swept keys, seed, status, run_dir, error and every numeric metrics.json key."""
    keys = [k for k in dict.fromkeys(k for r in runs for k in r.metrics) if _numeric_key(runs, k)]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*names, "seed", "status", "run_dir", "error", *keys])
    for r in runs:
        swept = [r.value(k) for k in names]
        metrics = ["" if r.metrics.get(k) is None else r.metrics[k] for k in keys]
        writer.writerow([*swept, r.seed, r.status, r.dir, _error(r), *metrics])
    path.write_text(out.getvalue())


def markdown(c: Contents) -> str:
    """report.md: the figures are linked files beside it."""
    lines = [f"# {c.title}", "", f"`{c.folder}`", ""]
    if c.command:
        lines += ["```", c.command, "```", ""]
    lines += [c.summary, ""]
    if c.verdicts:
        lines += ["## Claims", "", "| claim | verdict | numbers |", "|---|---|---|"]
        lines += [f"| {_md(v.claim.statement)} | **{v.verdict}** | {_md(v.reason)} |" for v in c.verdicts]
        lines.append("")
    lines += ["## Results", "", _md_row(c.headers), _md_row("---:" if n else "---" for n in c.numeric)]
    lines += [_md_row(row) for row in c.rows]
    lines += ["", *([c.note, ""] if c.note else [])]
    if c.stopped:
        lines += ["## Runs that did not complete", ""]
        lines += [f"- `{run}`: {_md(what)}" for run, what in c.stopped]
        lines.append("")
    for name, heading in c.figures.items():
        lines += [f"## {heading}", "", f"![{heading}]({name})", ""]
    claims = "; claims: `claims.json`" if c.verdicts else ""
    lines.append(f"Every run with every metric: `{c.records}`{claims}.")
    return "\n".join(lines) + "\n"


def to_html(c: Contents) -> str:
    """report.html: one file with its style and the figures inside (base64 PNG), nothing to fetch."""
    e = html.escape
    body = [f"<h1>{e(c.title)}</h1>", f"<p class='folder'>{e(str(c.folder))}</p>"]
    if c.command:
        body.append(f"<pre>{e(c.command)}</pre>")
    body.append(f"<p>{e(c.summary)}</p>")
    if c.verdicts:
        body += ["<h2>Claims</h2>", "<table><tr><th>claim</th><th>verdict</th><th>numbers</th></tr>"]
        for v in c.verdicts:
            css = v.verdict.replace(" ", "-")
            body.append(
                f"<tr><td>{e(v.claim.statement)}</td><td class='{css}'>{e(v.verdict)}</td>"
                f"<td>{e(v.reason)}</td></tr>"
            )
        body.append("</table>")
    body += ["<h2>Results</h2>", "<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in c.headers) + "</tr>"]
    for row in c.rows:
        classes = ["num" if n else "" for n in c.numeric]
        classes[-1] = "bad" if _any_stopped(row[-1]) else ""
        cells = "".join(f"<td class='{k}'>{e(cell)}</td>" for cell, k in zip(row, classes, strict=True))
        body.append(f"<tr>{cells}</tr>")
    body += ["</table>", *([f"<p class='note'>{e(c.note)}</p>"] if c.note else [])]
    if c.stopped:
        body += ["<h2>Runs that did not complete</h2>", "<ul>"]
        body += [f"<li><code>{e(run)}</code>: {e(what)}</li>" for run, what in c.stopped]
        body.append("</ul>")
    for name, heading in c.figures.items():
        data = base64.b64encode((c.folder / name).read_bytes()).decode()
        body.append(f"<h2>{e(heading)}</h2><img alt='{e(name)}' src='data:image/png;base64,{data}'>")
    return HTML.format(title=e(c.title), css=CSS, body="\n".join(body))


NOTE = (
    "Accuracies: mean ± half-width of the 95% confidence interval (Student t) over the seeds of the "
    "completed runs; one seed: no interval. best epoch, epochs and time/run: mean over completed runs."
)
CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; max-width: 1200px;
       margin: 2em auto; padding: 0 1.5em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.folder { color: #666; font-family: ui-monospace, monospace; margin-top: 0; }
pre, code { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 0.9em; }
pre { background: #f5f5f5; padding: 0.7em 1em; border-radius: 4px; overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #e3e3e3; text-align: left; vertical-align: top; }
th { background: #f0f0f0; white-space: nowrap; } tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.bad, .does-not-hold { color: #b00020; } .holds { color: #137333; font-weight: 600; }
.does-not-hold { font-weight: 600; } .undecided { color: #8a6d00; font-weight: 600; }
td.holds, td.does-not-hold, td.undecided { white-space: nowrap; }
.note { color: #555; font-size: 0.9em; } img { max-width: 100%; display: block; margin: 0.5em 0; }
"""
HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{css}</style></head>
<body>
{body}
</body></html>
"""


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


def _summary(runs: Sequence[Run], configs: Sequence[Config], names: Mapping[str, str], metric: str) -> str:
    swept = ", ".join(names) if names else "nothing (one configuration)"
    return (
        f"{len(runs)} runs ({statuses(runs)}) in {len(configs)} configurations; swept: {swept}. "
        f"Configurations are ranked by mean {metric}."
    )


def _stopped_runs(runs: Sequence[Run], configs: Sequence[Config], folder: Path) -> list[tuple[str, str]]:
    """Folder and ``diverged (optimizer=sgd, lr=1.0, seed 2): error`` of each run that did not complete."""
    labels = {r.dir: c.label for c in configs for r in c.runs}
    return [
        (str(r.dir.relative_to(folder)), f"{r.status} ({labels[r.dir]}, seed {r.seed})" + _colon(_error(r)))
        for r in runs
        if r.status != "completed"
    ]


def _colon(text: str) -> str:
    return f": {text}" if text else ""


def _default_metric(runs: Sequence[Run]) -> str:
    done = [r for r in runs if r.status == "completed"]
    return next((m for m in METRICS if any(math.isfinite(r.number(m)) for r in done)), METRICS[0])


def _mean(config: Config, key: str) -> str:
    mean = config.estimate(key).mean
    return "-" if math.isnan(mean) else f"{mean:.3g}"


def _numeric_key(runs: Sequence[Run], key: str) -> bool:
    values = [r.metrics.get(key) for r in runs]
    return all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values)


def _error(run: Run) -> str:
    return str(run.metrics.get("error") or "")


def _any_stopped(counts: str) -> bool:
    """Whether status counts (``2 completed, 1 diverged``) name a run that did not complete."""
    return any(s in counts for s in ("diverged", "failed", "interrupted"))


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _md_row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(_md(c) for c in cells) + " |"
