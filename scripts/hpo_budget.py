"""Grid, random, Bayesian and Hyperband search at the same budget of epochs: the best validation
accuracy each has found against the epochs it has spent (the anytime curve), over seeds, and the
chapter's claims checked on those numbers (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7:
random search beats grid search, Bergstra & Bengio 2012; Bayesian optimization; dynamic resource
allocation, Li et al. 2018, Hyperband).

    python scripts/hpo_budget.py                                  # 4 searchers x 3 seeds on the digits MLP
    python scripts/hpo_budget.py --seeds 0 --grid 2 --epochs 3 trainer.limit_batches=2   # a miniature
    python scripts/hpo_budget.py model.width=64                   # netopt-train overrides for every trial

The space: optimizer=momentum with the learning rate log-uniform on [1e-3, 1] and the momentum uniform
on [0, 0.95]. With ``--grid k`` and ``--epochs E`` the budget is k^2 E epochs: the grid trains its k x k
points for E epochs each (the centres of k cells per axis), random search and Bayesian optimization
k^2 trials of E epochs (Bayes: a Sobol design of half of them, then one GP + EI proposal at a time),
and Hyperband (eta 3) its brackets up to E epochs, which spend no more than the budget. Seed s is the
search's seed and every trial's trainer.seed (the grid's points are the same for every seed).

Each search is the strategy its sweeper builds (netopt.hpo), asked round by round as the sweepers ask
it, and every trial a real run (netopt.run.runner.run, in this process) in
``<out>/<searcher>_seed<s>/NNN_<values>``; each search folder ends with journal.jsonl, results.csv and
best.yaml as a sweep's does. ``<out>`` gets anytime.png, trials.png, anytime.csv (every job in launch
order), report.md, report.html and claims.json.

Why a script and not a preset: comparing searches is a sweep of sweeps, and Hydra runs one sweeper per
multirun. A preset would need a sweeper that runs the other sweepers, each with its own sweep folder,
journal and summary, and a report of its own beside the one the summary callback writes for every
multirun. Here the searches are the same strategy objects, and a trial starts in a fraction of a
second rather than in a netopt-train process of its own (about 20 s to start on a busy 2-core machine),
so the comparison fits its time budget.
"""

import argparse
import copy
import csv
import math
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf

from netopt import config
from netopt.components import preflight as check_config
from netopt.errors import UserError, user_error
from netopt.hpo import (
    Anytime,
    BayesSearch,
    GridSearch,
    Hyperband,
    Journal,
    RandomSearch,
    Record,
    SearchSpace,
    Uniform,
    anytime,
    best_within,
    outcome,
    spent_epochs,
)
from netopt.hpo.summary import write_summary
from netopt.labels import folder_name
from netopt.report.claims import Claim, check
from netopt.report.document import Contents, write_documents
from netopt.report.runs import Run
from netopt.report.stats import mean_ci
from netopt.run.runner import run

METRIC = "val_acc"
LR, MOMENTUM = Uniform("optimizer.lr", 1e-3, 1.0, log=True), Uniform("optimizer.momentum", 0.0, 0.95)
SPACE = SearchSpace([LR, MOMENTUM])
#: Every trial: SGD with momentum, a validation split large enough that 0.5% is two images, one thread.
COMMON = ("optimizer=momentum", "dataset.val_fraction=0.3", "trainer.progress=false", "trainer.num_threads=1")
SEARCHERS = ("grid", "random", "bayes", "hyperband")
COLORS = {"grid": "tab:gray", "random": "tab:blue", "bayes": "tab:green", "hyperband": "tab:red"}
ETA = 3


def make_search(name: str, grid: int, epochs: int, seed: int) -> Any:
    """The strategy of one searcher, over SPACE, with the budget of a k x k grid of E-epoch trials."""
    trials = grid**2
    if name == "grid":
        return GridSearch(SPACE, grid)
    if name == "random":
        return RandomSearch(SPACE, trials, seed=seed)
    if name == "bayes":
        return BayesSearch(SPACE, trials, batch_size=1, n_initial=max(2, trials // 2), seed=seed)
    return Hyperband(SPACE, max_epochs=epochs, eta=ETA, seed=seed)


def claims(budget: int) -> list[dict[str, Any]]:
    """The claims, as data: each compares a number of the searches between searchers (mean over
    seeds). ``best_val_acc`` is the best validation accuracy a search found, ``best_val_acc@e`` the best
    within its first e epochs. "At least as good" allows half a point (two validation images): the
    best val_acc of one configuration moves that much from seed to seed."""
    third = budget // 3
    at_least = {"metric": "best_val_acc", "op": ">=", "right": {"searcher": "grid"}, "margin": -0.005}
    return [
        {
            "statement": "Random search finds a val_acc at least as good as the grid's (within half a "
            "point) with the same trials and epochs (Bergstra & Bengio 2012: the grid tries only a few "
            "values of the learning rate, the hyperparameter that matters most)",
            "left": {"searcher": "random"},
            **at_least,
        },
        {
            "statement": "Bayesian optimization, with the same trials and epochs, finds a val_acc at least "
            "as good as the grid's (within half a point)",
            "left": {"searcher": "bayes"},
            **at_least,
        },
        {
            "statement": "Hyperband, spending no more epochs than the grid, finds a val_acc at least as "
            "good as the grid's (within half a point)",
            "left": {"searcher": "hyperband"},
            **at_least,
        },
        {
            "statement": f"Hyperband finds a good model with fewer epochs: after a third of the budget "
            f"({third} epochs) its best val_acc is above random search's (Li et al. 2018)",
            "metric": f"best_val_acc@{third}",
            "left": {"searcher": "hyperband"},
            "op": ">",
            "right": {"searcher": "random"},
            "caveat": "a trial of the full budget is cheap on the digits and already good; random search's "
            "third such trial ends exactly at this point, while Hyperband leads before it (anytime.png)",
        },
    ]


@dataclass(frozen=True)
class Search:
    """One finished search: its records in launch order and its wall time."""

    searcher: str
    seed: int
    folder: Path
    records: list[Record]
    seconds: float

    @property
    def curve(self) -> Anytime:
        return anytime(self.records)


def compose(overrides: Sequence[str]) -> DictConfig:
    """The netopt-train config with these overrides, as the CLI composes it."""
    from hydra import compose as hydra_compose
    from hydra import initialize

    with initialize(version_base="1.3", config_path=None):
        return hydra_compose(config.PRIMARY, overrides=list(overrides))


def run_search(
    search: Any, base: DictConfig, folder: Path, max_epochs: int, log: Callable[[str], None]
) -> list[Record]:
    """Ask the strategy for jobs and run each as netopt.run.runner.run into its trial folder, until it asks
    for none: the sweepers' loop in this process (a job that raises is a failed trial). Writes
    journal.jsonl, results.csv and best.yaml into folder; returns the records in launch order."""
    journal, records = Journal(folder), []
    while jobs := search.ask(records):
        for job in jobs:
            cfg = copy.deepcopy(base)
            for key, value in job.params.items():
                OmegaConf.update(cfg, key, value)
            cfg.trainer.max_epochs = job.budget or max_epochs
            if job.budget is not None:  # Hyperband: a promoted trial continues its run and its schedule
                cfg.trainer.schedule_epochs = max_epochs
                cfg.trainer.resume = "auto"
            trial_dir = folder / f"{job.trial:03d}_{folder_name(job.params)}"
            try:
                result: Any = run(cfg, trial_dir)
            except Exception as error:
                result = error
            record = replace(outcome(job, result, METRIC), run_dir=str(trial_dir))
            if record.status != "completed":
                log(f"  trial {job.trial} {record.status}: {record.error}")
            journal.append([record])
            records.append(record)
    write_summary(folder, records, METRIC, maximize=True)
    return records


def as_run(search: Search, budget: int) -> Run:
    """A search as the report's Run: ``best_val_acc`` at its end and ``best_val_acc@e`` within e epochs."""
    epochs = np.arange(1, budget + 1, dtype=float)
    curve = search.curve
    metrics = {
        "best_val_acc": float(curve.best[-1]) if len(curve.best) else math.nan,
        "epochs_spent": float(curve.epochs[-1]) if len(curve.epochs) else 0.0,
    }
    return Run(
        dir=search.folder,
        status="completed",
        metrics=metrics,
        overrides={"searcher": search.searcher, "seed": str(search.seed)},
        epochs={"epoch": epochs, "best_val_acc": best_within(curve, epochs)},
    )


def anytime_figure(searches: Sequence[Search], budget: int) -> Figure:
    """Best validation error (1 - best val_acc, log scale) against the epochs spent: the mean over
    seeds of each searcher and the band from its best to its worst seed."""
    fig = Figure(figsize=(9, 5.5), layout="constrained")
    ax = fig.subplots()
    epochs = np.arange(0, budget + 1, dtype=float)
    for name in SEARCHERS:
        mine = [s for s in searches if s.searcher == name]
        if not mine:
            continue
        errors = np.array([1.0 - best_within(s.curve, epochs) for s in mine])
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
        yscale="log",
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
    first = {}
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


def table(searches: Sequence[Search], budget: int) -> tuple[list[str], list[bool], list[list[str]]]:
    """One row per searcher: what it tried and spent, and its best val_acc within a third, two
    thirds and all of the budget (mean ± 95% interval over seeds)."""
    points = [budget // 3, 2 * budget // 3, budget]
    headers = ["searcher", "configurations", "jobs", "learning rates", "epochs spent"]
    headers += [f"best val_acc @{e} epochs" for e in points] + ["time/search"]
    rows = []
    for name in SEARCHERS:
        mine = [s for s in searches if s.searcher == name]
        if not mine:
            continue
        best = [mean_ci(float(best_within(s.curve, [e])[0]) for s in mine) for e in points]
        rows.append(
            [
                name,
                _mean(len({r.trial for r in s.records}) for s in mine),
                _mean(len(s.records) for s in mine),
                _mean(len({f"{r.params['optimizer.lr']:.6g}" for r in s.records}) for s in mine),
                _mean(s.curve.epochs[-1] for s in mine),
                *map(str, best),
                f"{np.mean([s.seconds for s in mine]):.0f} s",
            ]
        )
    return headers, [False] + [True] * (len(headers) - 1), rows


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _mean(values: Any) -> str:
    return f"{np.mean(list(values)):.3g}"


def report(out: Path, searches: Sequence[Search], budget: int, command: str) -> Path:
    """anytime.png, trials.png, anytime.csv, the claims checked, report.md and report.html in out."""
    figures = {
        "anytime.png": ("Best validation accuracy against epochs spent", anytime_figure(searches, budget)),
        "trials.png": ("The configurations each searcher tried", trials_figure(searches)),
    }
    for name, (_, fig) in figures.items():
        fig.savefig(out / name, dpi=100)
    write_csv(out / "anytime.csv", searches)
    runs = [as_run(s, budget) for s in searches]
    verdicts = [check(Claim.parse(raw, f"claims[{i}]"), runs) for i, raw in enumerate(claims(budget))]
    headers, numeric, rows = table(searches, budget)
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
        f"({', '.join(map(str, seeds))}) over {', '.join(SPACE.names)} on the digits MLP; a budget of "
        f"{budget} epochs per search. Objective: {METRIC}.",
        verdicts=verdicts,
        headers=headers,
        numeric=numeric,
        rows=rows,
        stopped=failed,
        figures={name: heading for name, (heading, _) in figures.items()},
        note="best val_acc @e: the best validation accuracy a search found within its first e epochs, "
        "mean ± half-width of the 95% interval over seeds (Student t). configurations, jobs (Hyperband "
        "runs a promoted configuration again), distinct learning rates and epochs spent: mean over seeds.",
        records="anytime.csv",
    )
    return write_documents(contents)


def main(argv: Sequence[str] | None = None) -> Path:
    """Run every searcher for every seed into the output folder and write its report there."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--grid", type=int, default=3, help="grid points per axis (k; k^2 trials each search)"
    )
    parser.add_argument("--epochs", type=int, default=9, help="epochs of a full trial (E)")
    parser.add_argument("--searchers", nargs="+", choices=SEARCHERS, default=list(SEARCHERS))
    parser.add_argument("--out", type=Path, help="default: outputs/hpo_budget/<time>")
    parser.add_argument("overrides", nargs="*", help="netopt-train overrides for every trial")
    args = parser.parse_args(argv)
    if args.grid < 2 or args.epochs < 1:
        parser.error("--grid must be >= 2 and --epochs >= 1")
    out = args.out or Path("outputs/hpo_budget", time.strftime("%Y-%m-%d_%H-%M-%S"))
    if out.exists() and any(out.iterdir()):
        parser.error(f"--out {out}: not empty; choose a new folder")
    torch.set_num_threads(1)
    config.register()
    bases = {seed: compose([*COMMON, *args.overrides, f"trainer.seed={seed}"]) for seed in args.seeds}
    check_config(bases[args.seeds[0]])  # a mistake every trial would repeat: one line, before any trial
    out.mkdir(parents=True, exist_ok=True)
    budget = args.grid**2 * args.epochs
    searches = []
    for seed, base in bases.items():
        for name in args.searchers:
            start = time.perf_counter()
            folder = out / f"{name}_seed{seed}"
            search = make_search(name, args.grid, args.epochs, seed)
            records = run_search(search, base, folder, args.epochs, print)
            done = Search(name, seed, folder, records, time.perf_counter() - start)
            searches.append(done)
            print(
                f"{name:9s} seed {seed}: {len(records):2d} jobs, {done.curve.epochs[-1]:3.0f} epochs, "
                f"best {METRIC} {done.curve.best[-1]:.4f}  ({done.seconds:.0f} s)",
                flush=True,
            )
    command = shlex.join(["python", "scripts/hpo_budget.py", *(sys.argv[1:] if argv is None else argv)])
    path = report(out, searches, budget, command)
    print(f"report: {path}")
    return path


def cli() -> None:
    """The command line: a mistake in the overrides ends in one line and exit status 2."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        main()
    except (UserError, HydraException, OmegaConfBaseException) as error:
        cause = user_error(error) or error
        print(f"hpo_budget: error: {str(cause).strip().splitlines()[0]}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    cli()
