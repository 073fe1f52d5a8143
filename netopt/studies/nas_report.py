"""The report of ``netopt-nas`` (:mod:`netopt.studies.nas`): the search and the comparison in one
figure, a table per architecture, and the claims judged on a record per run of the comparison.

``search.png`` shows each trial's validation accuracy in launch order with the best so far, beside
each seed's test accuracy of the searched and the default architecture; records.jsonl holds the
comparison's runs (:class:`~netopt.report.records.RunRecord`), from which the table and the claims are
computed.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from netopt.hpo.trials import Record
from netopt.report.claims import Claim, judge
from netopt.report.document import Contents, write_documents
from netopt.report.records import RunRecord, write_records
from netopt.report.stats import mean_ci
from netopt.studies.nas import ARCHITECTURES, DEFAULT, SPACE, chosen, claims, describe

COLORS = {"searched": "tab:green", "default": "tab:gray"}


def figure(trials: Sequence[Record], records: Sequence[RunRecord]) -> Figure:
    """Left: each trial's val_acc in launch order (Sobol design, then GP proposals) and the best so
    far; the mean val_acc of each architecture over the comparison's seeds as a line. Right: each
    seed's test accuracy of both architectures, joined by seed."""
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": (3, 2)})
    done = [(i, r) for i, r in enumerate(trials) if r.status == "completed"]
    x = np.array([i for i, _ in done], dtype=float)
    y = np.array([r.objective for _, r in done])
    left.scatter(x, y, color="tab:blue", s=22, label="a trial's val_acc")
    if len(y):
        left.step(x, np.maximum.accumulate(y), where="post", color="tab:green", label="best so far")
    for name, style in (("default", "--"), ("searched", ":")):
        fresh = [r.number("val_acc") for r in records if r.value("architecture") == name]
        if fresh:
            mean = float(np.mean(fresh))
            left.axhline(mean, color=COLORS[name], linestyle=style, label=f"{name}, fresh seeds: mean")
    left.set(
        xlabel="trial (launch order)",
        ylabel="val_acc",
        title=f"The search: {len(trials)} trials of the same epochs",
    )
    left.xaxis.get_major_locator().set_params(integer=True)
    left.grid(alpha=0.3)
    left.legend(fontsize=9)
    seeds = sorted({r.seed for r in records})
    for seed in seeds:
        values = [_test_acc(records, name, seed) for name in ARCHITECTURES]
        right.plot(range(len(ARCHITECTURES)), values, color="0.6", linewidth=1, marker="o")
    for i, name in enumerate(ARCHITECTURES):
        right.scatter(
            [i] * len(seeds), [_test_acc(records, name, s) for s in seeds], color=COLORS[name], zorder=3
        )
    right.set_xticks(range(len(ARCHITECTURES)), ARCHITECTURES)
    right.set(xlim=(-0.5, len(ARCHITECTURES) - 0.5), ylabel="test_acc", title="Each seed, the same budget")
    right.grid(alpha=0.3)
    return fig


def _test_acc(records: Sequence[RunRecord], name: str, seed: Any) -> float:
    mine = [r for r in records if r.value("architecture") == name and r.seed == seed]
    return mine[0].number("test_acc") if mine else float("nan")


def table(
    records: Sequence[RunRecord], architectures: Mapping[str, Mapping[str, Any]]
) -> tuple[list[str], list[bool], list[list[str]]]:
    """One row per architecture: its values and its train, validation and test accuracy (mean and 95%
    interval over seeds, inside [0, 1]: :mod:`netopt.report.stats`)."""
    metrics = ("train_acc", "val_acc", "test_acc")
    headers = ["architecture", *SPACE.names, *metrics, "runs"]
    rows = []
    for name, params in architectures.items():
        mine = [r for r in records if r.value("architecture") == name]
        done = [r for r in mine if r.status == "completed"]
        cells = [str(mean_ci((r.number(m) for r in done), (0.0, 1.0))) for m in metrics]
        rows.append(
            [
                name,
                *(
                    f"{params[k]:.3g}" if isinstance(params[k], float) else str(params[k])
                    for k in SPACE.names
                ),
                *cells,
                f"{len(done)} of {len(mine)} completed",
            ]
        )
    return headers, [False] * (1 + len(SPACE.names)) + [True] * len(metrics) + [False], rows


def report(
    out: Path, trials: Sequence[Record], records: Sequence[RunRecord], epochs: int, command: str
) -> Path:
    """search.png, records.jsonl, the claims judged on the records, report.md and report.html in out."""
    fig = figure(trials, records)
    fig.savefig(out / "search.png", dpi=100)
    write_records(out / "records.jsonl", records)
    best = chosen(trials)
    raw = claims(len(trials), epochs, best.objective)
    verdicts = [judge(Claim.parse(c, f"claims[{i}]"), records) for i, c in enumerate(raw)]
    architectures = {"searched": best.params, "default": DEFAULT}
    headers, numeric, rows = table(records, architectures)
    seeds = sorted({r.seed for r in records})
    failed = [
        (str(Path(r.run_dir).relative_to(out)), f"{r.status}: {r.error}")
        for r in trials
        if r.status != "completed"
    ]
    failed += [
        (str(r.source.relative_to(out)), f"{r.status}: {r.error}") for r in records if r.status != "completed"
    ]
    contents = Contents(
        title="Architecture search against the default architecture at the same budget",
        folder=out.resolve(),
        command=command,
        summary=f"A Bayesian search of {len(trials)} architectures of the MLP ({', '.join(SPACE.names)}; "
        "on netopt-hpo-budget's problem, Fashion-MNIST with 5,000 training images, unless the command "
        f"overrides it), each trained {epochs} epochs and scored by val_acc, chose "
        f"{describe(best.params)} (val_acc {best.objective:.4f}, trial {best.trial}); the search spent "
        f"{len(trials) * epochs} epochs. Then the chosen and the default architecture "
        f"({describe(DEFAULT)}) trained {epochs} epochs each on {len(seeds)} seeds "
        f"({', '.join(map(str, seeds))}), compared on test data.",
        verdicts=verdicts,
        headers=headers,
        numeric=numeric,
        rows=rows,
        stopped=failed,
        figures={"search.png": "The search, and each seed's test accuracy"},
        note="train_acc, val_acc, test_acc: mean [95% interval] over seeds (Student t). "
        "The search's trials: search/results.csv and search/journal.jsonl.",
        records="records.jsonl",
    )
    return write_documents(contents)
