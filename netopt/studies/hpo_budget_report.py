"""The report of ``netopt-hpo-budget`` (:mod:`netopt.studies.hpo_budget`): the searches' anytime curves, the
configurations each tried, a table, and the claims judged on a record per search.

``anytime.png`` shows the best validation accuracy found against the epochs spent, ``trials.png`` where
each searcher's trials fell in the space; anytime.csv holds every job in launch order and records.jsonl
a record per search (:class:`~netopt.report.records.RunRecord`, :func:`search_record`), from which the
table and the claims are computed.
"""

import csv
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from netopt.hpo.anytime import best_within, spent_epochs
from netopt.hpo.trials import Record
from netopt.report.claims import Claim, judge
from netopt.report.document import Contents, write_documents
from netopt.report.records import RunRecord, write_records
from netopt.report.stats import mean_ci
from netopt.studies.hpo_budget import LR, METRIC, MOMENTUM, SEARCHERS, SPACE, Search, claims
from netopt.studies.hpo_clock import idle_share, time_to

COLORS = {
    "grid": "tab:gray",
    "random": "tab:blue",
    "bayes": "tab:green",
    "hyperband": "tab:red",
    "asha": "tab:orange",
    "bohb": "tab:purple",
    "pbt": "tab:brown",
}


IDLE = ("idle_share", "idle_share_until_drain")


def search_record(search: Search, budget: int, target: float = math.nan) -> RunRecord:
    """The record of a search: its searcher and seed, ``best_val_acc`` at its end and ``best_val_acc@e``
    within e epochs, ``test_acc_of_best`` (the test accuracy of the trial with the best val_acc), the
    configurations, jobs and distinct learning rates it tried, the epochs it
    spent and its wall time; on its workers' clock (:mod:`netopt.studies.hpo_clock`), ``idle_share``
    and ``time_to_grid_best_s``, when a job first reached ``target`` (NaN: never)."""
    epochs = np.arange(1, budget + 1, dtype=float)
    curve = search.curve
    completed = [r for r in search.records if r.status == "completed"]
    chosen = max(completed, key=lambda r: r.objective) if completed else None
    metrics = {
        "best_val_acc": float(curve.best[-1]) if len(curve.best) else math.nan,
        "test_acc_of_best": float(chosen.metrics.get("test_acc", math.nan)) if chosen else math.nan,
        "epochs_spent": float(curve.epochs[-1]) if len(curve.epochs) else 0.0,
        "configurations": len({r.trial for r in search.records}),
        "jobs": len(search.records),
        "learning_rates": len({f"{r.params['optimizer.lr']:.6g}" for r in search.records}),
        "wall_time_s": search.seconds,
    }
    if all("end_s" in r.metrics for r in search.records):
        metrics["idle_share"] = idle_share(search.records, search.workers)
        metrics["idle_share_until_drain"] = idle_share(search.records, search.workers, until_drain=True)
        metrics["clock_s"] = max((r.metrics["end_s"] for r in search.records), default=0.0)
        metrics["time_to_grid_best_s"] = time_to(search.records, target)
    return RunRecord(
        settings={"searcher": search.searcher},
        metrics=metrics,
        seed=search.seed,
        source=search.folder,
        epochs={"epoch": epochs, "best_val_acc": best_within(curve, epochs)},
    )


def against_hyperband(records: Sequence[RunRecord]) -> None:
    """Add ``time_to_grid_best_vs_hyperband`` to each record: its time to the grid's best over
    Hyperband's with the same seed (NaN unless both reached it)."""
    key = "time_to_grid_best_s"
    hyperband = {r.seed: r.number(key) for r in records if r.value("searcher") == "hyperband"}
    for r in records:
        theirs = hyperband.get(r.seed, math.nan)
        r.metrics[f"{key[:-2]}_vs_hyperband"] = r.number(key) / theirs if theirs > 0 else math.nan


def anytime_figure(searches: Sequence[Search], budget: int) -> Figure:
    """Best validation error (1 - best val_acc, log scale) against the epochs spent: the mean over
    seeds of each searcher and the band from its best to its worst seed."""
    fig = Figure(figsize=(9, 5.5), layout="constrained")
    ax = fig.subplots()
    epochs = np.arange(0, budget + 1, dtype=float)
    finite = False  # whether any search found a value: a log axis needs one
    for name in SEARCHERS:
        mine = [s for s in searches if s.searcher == name]
        if not mine:
            continue
        errors = np.array([1.0 - best_within(s.curve, epochs) for s in mine])
        finite |= bool((np.isfinite(errors) & (errors > 0)).any())
        spent = np.mean([s.curve.epochs[-1] for s in mine])
        trials = np.mean([len({r.trial for r in s.records}) for s in mine])
        label = f"{name} ({trials:.0f} configurations, {spent:.0f} epochs)"
        mean, low, high = (_over_seeds(f, errors) for f in (np.mean, np.min, np.max))
        ax.step(epochs, mean, where="post", color=COLORS[name], linewidth=2, label=label)
        ax.fill_between(epochs, low, high, step="post", color=COLORS[name], alpha=0.15, linewidth=0)
    ax.axvline(budget // 3, color="0.4", linestyle=":", linewidth=1)
    ax.annotate(
        "a third of the budget",
        (budget // 3, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(4, -14),
        textcoords="offset points",
        fontsize=9,
        color="0.3",
    )
    ax.set(
        yscale="log" if finite else "linear",
        xlim=(0, budget),
        xlabel="epochs spent by the search (all its trials together)",
        ylabel="best validation error so far, 1 − val_acc (log scale)",
        title=f"Anytime performance of the searches, {_count(len({s.seed for s in searches}), 'seed')}\n"
        "line: mean over seeds; band: best to worst seed",
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=9)
    return fig


def _over_seeds(reduce: Callable[..., np.ndarray], values: np.ndarray) -> np.ndarray:
    """reduce over the rows (seeds) of each column, over its finite values; NaN where it has none
    (before any job completed)."""
    out = np.full(values.shape[1], np.nan)
    for j in np.flatnonzero(np.isfinite(values).any(0)):
        out[j] = reduce(values[np.isfinite(values[:, j]), j])
    return out


def trials_figure(searches: Sequence[Search]) -> Figure:
    """Where each searcher's trials fell in the space (its first seed), coloured by their val_acc; a
    Hyperband trial's marker grows with the epochs it trained."""
    first: dict[str, Search] = {}
    for s in searches:
        first.setdefault(s.searcher, s)
    fig = Figure(figsize=(4 * len(first), 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(first), sharex=True, sharey=True))
    scatter = None
    for ax, search in zip(axes, first.values(), strict=True):
        latest: dict[int, Record] = {}
        for r in search.records:
            latest[r.trial] = r
        rows = list(latest.values())
        lrs = [r.params["optimizer.lr"] for r in rows]
        values = [r.objective if r.status == "completed" else 0.0 for r in rows]
        sizes = [25 + 8 * (r.epochs or 0) for r in rows]
        scatter = ax.scatter(
            lrs,
            [r.params["optimizer.momentum"] for r in rows],
            c=values,
            s=sizes,
            cmap="viridis",
            vmin=0.8,
            vmax=1.0,
            edgecolors="black",
            linewidths=0.5,
        )
        distinct = len({f"{lr:.6g}" for lr in lrs})
        ax.set_title(f"{search.searcher}: {len(rows)} configurations,\n{distinct} learning rates")
        ax.set(xscale="log", xlabel="optimizer.lr (log scale)", xlim=(LR.low / 1.4, LR.high * 1.4))
        ax.set_ylim(MOMENTUM.low - 0.03, MOMENTUM.high + 0.03)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("optimizer.momentum")
    assert scatter is not None
    fig.colorbar(scatter, ax=list(axes), label="val_acc (of its last job; below 0.8: darkest)", extend="min")
    seed = next(iter(first.values())).seed
    fig.suptitle(
        f"The configurations each searcher tried (seed {seed}); Hyperband: the more epochs, the larger"
    )
    return fig


def write_csv(path: Path, searches: Sequence[Search]) -> None:
    """Every job of every search in launch order, with the epochs it spent and the best so far."""
    names = SPACE.names
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["searcher", "seed", "job", "trial", *names, "epochs", "spent", "epochs_spent", METRIC]
            + ["best_val_acc", "status"]
        )
        for s in searches:
            curve, spent = s.curve, spent_epochs(s.records)
            for j, r in enumerate(s.records):
                params = [r.params[n] for n in names]
                writer.writerow(
                    [s.searcher, s.seed, j, r.trial, *params, r.epochs, spent[j], int(curve.epochs[j])]
                    + [r.objective, curve.best[j], r.status]
                )


def table(records: Sequence[RunRecord], budget: int) -> tuple[list[str], list[bool], list[list[str]]]:
    """One row per searcher from the records of its searches: what it tried and spent, and its best
    val_acc within a third, two thirds and all of the budget and the test accuracy of the configuration
    it chose (mean and 95% interval over seeds, inside [0, 1]: :mod:`netopt.report.stats`)."""
    points = [budget // 3, 2 * budget // 3, budget]
    headers = ["searcher", "configurations", "jobs", "learning rates", "epochs spent"]
    headers += [f"best val_acc @{e} epochs" for e in points] + ["test acc of the chosen", "time/search"]
    headers += ["idle share", "idle until the drain", "time to the grid's best", "vs Hyperband's"]
    rows = []
    for name in SEARCHERS:
        mine = [r for r in records if r.value("searcher") == name]
        if not mine:
            continue
        counts = ("configurations", "jobs", "learning_rates", "epochs_spent")
        best = [mean_ci((r.number(f"best_val_acc@{e}") for r in mine), (0.0, 1.0)) for e in points]
        rows.append(
            [
                name,
                *(_mean(r.number(key) for r in mine) for key in counts),
                *map(str, best),
                str(mean_ci((r.number("test_acc_of_best") for r in mine), (0.0, 1.0))),
                f"{np.mean([r.number('wall_time_s') for r in mine]):.0f} s",
                *(str(mean_ci((r.number(k) for r in mine), (0.0, 1.0))) for k in IDLE),
                _reached([r.number("time_to_grid_best_s") for r in mine], "{:.1f} s"),
                _reached([r.number("time_to_grid_best_vs_hyperband") for r in mine], "{:.2f}x"),
            ]
        )
    return headers, [False] + [True] * (len(headers) - 1), rows


def _reached(values: list[float], form: str) -> str:
    """The mean of the seeds that reached the target, and how many did."""
    finite = [v for v in values if math.isfinite(v)]
    mean = form.format(np.mean(finite)) if finite else "-"
    return f"{mean} ({len(finite)}/{len(values)})"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _mean(values: Any) -> str:
    return f"{np.mean(list(values)):.3g}"


def report(out: Path, searches: Sequence[Search], budget: int, command: str) -> Path:
    """anytime.png, trials.png, anytime.csv, records.jsonl (a record per search), the claims judged on
    them, report.md and report.html in out."""
    figures = {
        "anytime.png": ("Best validation accuracy against epochs spent", anytime_figure(searches, budget)),
        "trials.png": ("The configurations each searcher tried", trials_figure(searches)),
    }
    for name, (_, fig) in figures.items():
        fig.savefig(out / name, dpi=100)
    write_csv(out / "anytime.csv", searches)
    grid_best = {s.seed: float(s.curve.best[-1]) for s in searches if s.searcher == "grid" and s.records}
    records = [search_record(s, budget, grid_best.get(s.seed, math.nan)) for s in searches]
    against_hyperband(records)
    write_records(out / "records.jsonl", records)
    verdicts = [judge(Claim.parse(raw, f"claims[{i}]"), records) for i, raw in enumerate(claims(budget))]
    headers, numeric, rows = table(records, budget)
    seeds = sorted({s.seed for s in searches})
    failed = [
        (str(Path(r.run_dir).relative_to(out)), f"{r.status}: {r.error}")
        for s in searches
        for r in s.records
        if r.status != "completed"
    ]
    contents = Contents(
        title="Hyperparameter search at a fixed budget of epochs",
        folder=out.resolve(),
        command=command,
        summary=f"{len({s.searcher for s in searches})} searchers x {len(seeds)} seeds "
        f"({', '.join(map(str, seeds))}) over {', '.join(SPACE.names)} on the Fashion-MNIST MLP (5,000 "
        "training images); a budget of "
        f"{budget} epochs per search. Objective: {METRIC}.",
        verdicts=verdicts,
        headers=headers,
        numeric=numeric,
        rows=rows,
        stopped=failed,
        figures={name: heading for name, (heading, _) in figures.items()},
        note="best val_acc @e: the best validation accuracy a search found within its first e epochs; "
        "test acc of the chosen: the test accuracy of the trial with the best val_acc, "
        "mean ± half-width of the 95% interval over seeds (Student t). configurations, jobs (Hyperband "
        "runs a promoted configuration again), distinct learning rates and epochs spent: mean over seeds. "
        "idle share and time to the grid's best (its best val_acc, same seed) on "
        f"{_count(searches[0].workers, 'worker')} of a simulated clock: the trials ran one after another "
        "in one process and each job lasts on its "
        "worker the time it took (netopt.studies.hpo_clock); idle share: the share of worker-seconds not "
        "in a trial's run (barriers, the launcher's per-job overhead), until the drain: until the last job "
        "started; vs Hyperband's: the ratio to "
        "synchronous Hyperband's time, same seed (n/N: seeds where it is defined).",
        records="anytime.csv",
    )
    return write_documents(contents)
