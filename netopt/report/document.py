"""A report as a document: report.md and a self-contained report.html with its claims, table and figures.

Every report (a sweep's, :mod:`netopt.report.sweep`; the trajectories',
:mod:`netopt.studies.trajectories_report`; the HPO-budget comparison's,
:mod:`netopt.studies.hpo_budget_report`) fills in :class:`Contents` and writes it with
:func:`write_documents`, which also writes the verdicts into claims.json.
"""

import base64
import html
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from netopt.report.claims import Verdict, counts
from netopt.report.evidence import evidence


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


def write_documents(contents: Contents) -> Path:
    """Write report.md, report.html and, with verdicts, claims.json and their figure claims.png
    (:mod:`netopt.report.evidence`) into the contents' folder (where its figures are); return the path
    of report.html."""
    folder = contents.folder
    if contents.verdicts:
        verdicts = [v.as_dict() for v in contents.verdicts]
        (folder / "claims.json").write_text(json.dumps(verdicts, indent=2) + "\n")
        figure = evidence(contents.verdicts)
        if figure is not None:
            figure.savefig(folder / "claims.png", dpi=100)
            contents = replace(contents, figures={"claims.png": EVIDENCE, **contents.figures})
    (folder / "report.md").write_text(markdown(contents))
    (folder / "report.html").write_text(to_html(contents))
    return folder / "report.html"


def verdict_lines(folder: Path) -> list[str]:
    """The verdicts of claims.json in the folder for the terminal: their counts, then one line per claim
    (its verdict, statement and effect); none without claims.json."""
    path = folder / "claims.json"
    if not path.exists():
        return []
    verdicts = json.loads(path.read_text())
    lines = [f"claims: {counts(verdicts)}"]
    for v in verdicts:
        lines.append(f"  {v['verdict']:>15}: {v['statement']} | {effect_text(v)}")
    return lines


def effect_text(verdict: dict[str, Any]) -> str:
    """A claim's effect (an entry of claims.json) in a line: ``test_acc +0.012 [+0.004, +0.02] (n=5)``,
    "-" without one."""
    e = verdict.get("effect")
    if e is None:
        return "-"
    text = f"{verdict['metric']} {e['mean']:+.4g}"
    if e["low"] is not None and e["low"] != e["high"]:
        text += f" [{e['low']:+.4g}, {e['high']:+.4g}]"
    return f"{text} (n={e['n']})"


def markdown(c: Contents) -> str:
    """report.md: the figures are linked files beside it."""
    lines = [f"# {c.title}", "", f"`{c.folder}`", ""]
    if c.command:
        lines += ["```", c.command, "```", ""]
    lines += [c.summary, ""]
    if c.verdicts:
        lines += ["## Claims", "", f"{counts(c.verdicts)}. {CLAIMS_NOTE}", ""]
        lines += ["| claim | verdict | effect [95% interval] | numbers |", "|---|---|---|---|"]
        lines += [
            f"| {_md(v.claim.statement)} | **{v.verdict}** | {_md(str(v.effect or '-'))} | {_md(v.reason)} |"
            for v in c.verdicts
        ]
        lines.append("")
    lines += ["## Results", "", _md_row(c.headers), _md_row("---:" if n else "---" for n in c.numeric)]
    lines += [_md_row(row) for row in c.rows]
    lines += ["", *([c.note, ""] if c.note else [])]
    if c.stopped:
        lines += ["## Runs left out: not completed, or invalid", ""]
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
        body += ["<h2>Claims</h2>", f"<p>{e(counts(c.verdicts))}. {e(CLAIMS_NOTE)}</p>"]
        body.append(
            "<table><tr><th>claim</th><th>verdict</th><th>effect [95% interval]</th><th>numbers</th></tr>"
        )
        for v in c.verdicts:
            css = v.verdict.replace(" ", "-")
            body.append(
                f"<tr><td>{e(v.claim.statement)}</td><td class='{css}'>{e(v.verdict)}</td>"
                f"<td class='num'>{e(str(v.effect or '-'))}</td><td>{e(v.reason)}</td></tr>"
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
        body += ["<h2>Runs left out: not completed, or invalid</h2>", "<ul>"]
        body += [f"<li><code>{e(run)}</code>: {e(what)}</li>" for run, what in c.stopped]
        body.append("</ul>")
    for name, heading in c.figures.items():
        data = base64.b64encode((c.folder / name).read_bytes()).decode()
        body.append(f"<h2>{e(heading)}</h2><img alt='{e(name)}' src='data:image/png;base64,{data}'>")
    return HTML.format(title=e(c.title), css=CSS, body="\n".join(body))


#: The heading of claims.png.
EVIDENCE = "The evidence of each claim: effect, 95% interval (bar), bound (dashed) and one dot per seed"
#: How to read a claim's verdict, above every claims table.
CLAIMS_NOTE = (
    "The effect is left - right with its 95% interval (paired by seed where both sides share seeds,"
    " Welch's otherwise); a claim holds when the whole interval lies on the claimed side of its margin,"
    " does not hold when it lies on the other side, and is inconclusive otherwise; a claim true by"
    " construction (an identity, a deterministic demonstration) is shown but is not evidence"
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
.does-not-hold { font-weight: 600; } .undecided, .inconclusive { color: #8a6d00; font-weight: 600; }
.by-construction { color: #555; font-style: italic; }
td.holds, td.does-not-hold, td.undecided, td.inconclusive, td.by-construction { white-space: nowrap; }
.note { color: #555; font-size: 0.9em; } img { max-width: 100%; display: block; margin: 0.5em 0; }
"""
HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{css}</style></head>
<body>
{body}
</body></html>
"""


def _any_stopped(counts: str) -> bool:
    """Whether status counts (``2 completed, 1 diverged``) name a run that did not complete."""
    return any(s in counts for s in ("diverged", "failed", "interrupted", "invalid", "incomplete"))


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _md_row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(_md(c) for c in cells) + " |"
