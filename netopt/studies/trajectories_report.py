"""The records of ``netopt-trajectories``' paths, the claims judged on them, and its report.

Each path (a function, an optimizer with its learning rate, a gradient-noise level and a seed) is a
record (:class:`~netopt.report.records.RunRecord`) with the settings ``function``, ``optimizer``,
``lr``, ``noise``, ``start`` and ``steps``, its seed, and the metrics ``final_loss``, ``escaped``
(whether it went past the function's saddle point), ``escape_step`` (the step at which it did) and
``left_box`` (whether it ran off the function's box); ``escaped`` and ``escape_step`` are null on a
function without a saddle, ``escape_step`` on a path that never escaped. records.jsonl in the output
folder holds them, and the report is written from it. A claim (:mod:`netopt.report.claims`) selects
paths by ``function``, ``optimizer``, ``lr``, ``noise`` and ``seed`` and compares a metric between
them (``escaped`` and ``left_box`` as 1 or 0), reduced over the selected paths (mean, min or max).
"""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from netopt.landscape.toy import Function, Trajectory
from netopt.report.claims import Claim, judge
from netopt.report.document import Contents, write_documents
from netopt.report.records import RunRecord, read_records
from netopt.report.stats import mean_ci
from netopt.studies.trajectories_tuning import TUNING

#: The file of the records, in the output folder.
RECORDS = "records.jsonl"
NOTE = (
    "final loss: mean over seeds ± half-width of its 95% interval (Student t) where the seeds differ; "
    "escaped: paths that went past the saddle point and 1 below its value, of all seeds; escape step: "
    "the range of the steps at which they did."
)
#: Added to the note when the lrs were tuned (tuning.jsonl in the folder).
TUNED_NOTE = (
    " lr: each optimizer's own, per function and noise level, the best of its grid by the mean final loss"
    " (escape step on a saddle) over the tuning seeds, which the claims do not use (the grid and its"
    " scores: tuning.png, tuning.jsonl); an lr chosen at an end of its grid may be beaten beyond it."
)


def path_record(
    function: Function, optimizer: str, lr: float, noise: float, seed: int, path: Trajectory, out: Path
) -> RunRecord:
    """The record of one path, written into out."""
    saddle = function.saddle is not None
    settings = {
        "function": function.name,
        "optimizer": optimizer,
        "lr": lr,
        "noise": noise,
        "start": path.path[0].tolist(),
        "steps": len(path.path) - 1,
    }
    metrics: dict[str, Any] = {
        "final_loss": path.loss[-1].item(),
        "escaped": path.escaped if saddle else None,
        "escape_step": path.escape_step,
        "left_box": path.left_box,
    }
    return RunRecord(settings, metrics, seed=seed, source=out)


def parse_claims(raw: Sequence[Mapping[str, Any]]) -> list[Claim]:
    """The claims of the ``claims`` key (checked before any path is run)."""
    return [Claim.parse(claim, f"claims[{i}]") for i, claim in enumerate(raw)]


def table(records: Sequence[RunRecord]) -> tuple[list[str], list[bool], list[list[str]]]:
    """One row per function, optimizer and noise level, over its seeds."""
    groups: dict[tuple[str, str, float], list[RunRecord]] = {}
    for r in records:
        groups.setdefault((r.value("function"), r.value("optimizer"), r.value("noise")), []).append(r)
    headers = ["function", "optimizer", "lr", "noise", "seeds", "final loss", "escaped", "escape step"]
    rows = []
    for (function, optimizer, noise), mine in groups.items():
        steps = [r.metrics["escape_step"] for r in mine if r.metrics["escape_step"] is not None]
        saddle = mine[0].metrics["escaped"] is not None
        rows.append(
            [
                function,
                optimizer,
                f"{mine[0].value('lr'):g}",
                f"{noise:g}",
                str(len(mine)),
                _loss(mine),
                f"{len(steps)}/{len(mine)}" if saddle else "-",
                _range(steps),
            ]
        )
    return headers, [False, False, True, True, True, True, True, True], rows


def _range(steps: Sequence[int]) -> str:
    if not steps:
        return "-"
    return f"{min(steps)}" if min(steps) == max(steps) else f"{min(steps)}–{max(steps)}"


def _loss(records: Sequence[RunRecord]) -> str:
    estimate = mean_ci(r.metrics["final_loss"] for r in records)
    if estimate.n > 1 and estimate.half_width > 1e-9 * abs(estimate.mean):  # not rounding noise
        return f"{estimate.mean:.3g} ± {estimate.half_width:.2g}"
    return f"{estimate.mean:.3g}"


def _tuned(path: Path) -> str:
    """The summary's sentence on the lr grid of tuning.jsonl ("" without one)."""
    if not path.exists():
        return ""
    grid = read_records(path)
    lrs = {(r.value("function"), r.value("optimizer"), r.value("noise"), r.value("lr")) for r in grid}
    choices = {key[:3] for key in lrs}
    seeds = ", ".join(map(str, sorted({r.seed for r in grid})))
    return (
        f" Each optimizer at its own best lr of {len(lrs) // len(choices)} per function and noise level,"
        f" chosen on the tuning seeds {seeds} ({len(grid)} more paths)."
    )


def write_report(out: Path, claims: Sequence[Claim], figures: Mapping[str, str], command: str) -> Path:
    """report.md, report.html and (with claims) claims.json in out, from its records.jsonl and beside
    its figures; the path of report.html."""
    records = read_records(out / RECORDS)
    headers, numeric, rows = table(records)
    seeds = sorted({r.seed for r in records})
    noise = sorted({r.value("noise") for r in records})
    optimizers, functions = ({r.value(key) for r in records} for key in ("optimizer", "function"))
    tuned = _tuned(out / TUNING)
    contents = Contents(
        title="Optimizer trajectories on 2-D test functions",
        folder=out.resolve(),
        command=command,
        summary=f"{len(optimizers)} optimizers on {len(functions)} functions, gradient noise "
        f"{', '.join(f'{n:g}' for n in noise)}, seeds {', '.join(map(str, seeds))}: {len(records)} paths."
        + tuned,
        verdicts=[judge(claim, records) for claim in claims],
        headers=headers,
        numeric=numeric,
        rows=rows,
        stopped=[],
        figures=dict(figures),
        note=NOTE + (TUNED_NOTE if tuned else ""),
        records=RECORDS,
    )
    return write_documents(contents)
