"""Grid, random, Bayesian, Hyperband, ASHA, BOHB and PBT search at the same budget of epochs
(``netopt-hpo-budget``).

The comparison of the searches that the chapter describes (Qiu Xipeng, Neural Networks and Deep
Learning, ch. 7: random search beats grid search, Bergstra & Bengio 2012; Bayesian optimization;
dynamic resource allocation, Li et al. 2018, Hyperband) and of the searches built on them
(asynchronous successive halving, Li et al. 2020; BOHB, Falkner et al. 2018; population-based
training, Jaderberg et al. 2017), run as real trainings; its report is
:mod:`netopt.studies.hpo_budget_report`.

The space: optimizer=momentum with the learning rate log-uniform on [1e-3, 1] and the momentum uniform
on [0, 0.95]. With a grid of k points per axis and E epochs a trial, the budget is k^2 E epochs: the
grid trains its k x k points for E epochs each (the centres of k cells per axis), random search and
Bayesian optimization k^2 trials of E epochs (Bayes: a Sobol design of half of them, then one GP + EI
proposal at a time), and Hyperband (eta 3) its brackets up to E epochs, which spend no more than the
budget. ASHA (rungs of Hyperband's most exploratory bracket) starts new configurations until the
next job would pass the budget; BOHB runs Hyperband's brackets; PBT trains a population of k^2
members for E epochs, exploiting every E // 4 epochs as each member reports (no barrier between
generations; its members start from the k^2
configurations random search tries: random search is PBT without exploit and explore). Seed s is
the search's seed and every trial's trainer.seed (the grid's points are the same for every seed).

Each search is the strategy its sweeper builds (:mod:`netopt.hpo`), asked as the sweepers ask it
with WORKERS workers (grid, random, Bayes and Hyperband in rounds, ASHA, BOHB and PBT asynchronously)
on the simulated clock of :mod:`netopt.studies.hpo_clock`: the trials run one after another in this
process, and each job lasts on its worker the time it took. Every trial is a real run (the ``fit``
given) in ``<out>/<searcher>_seed<s>/NNN_<values>`` (a PBT fork copies its parent's checkpoint there
first, :mod:`netopt.hpo.fork`); each search folder ends with journal.jsonl, results.csv and best.yaml
as a sweep's does.

Why a command and not a preset: comparing searches is a sweep of sweeps, and Hydra runs one sweeper
per multirun. A preset would need a sweeper that runs the other sweepers, each with its own sweep
folder, journal and summary, and a report of its own beside the one the summary callback writes for
every multirun. Here the searches are the same strategy objects, and a trial starts in this process
rather than in a netopt-train process of its own, so the comparison fits its time budget.
"""

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from netopt.composition import compose
from netopt.hpo.anytime import Anytime, anytime
from netopt.hpo.asha import ASHA
from netopt.hpo.bohb import BOHB
from netopt.hpo.fork import fork, keep
from netopt.hpo.hyperband import Hyperband
from netopt.hpo.pbt import PBT
from netopt.hpo.search import BayesSearch, GridSearch, RandomSearch
from netopt.hpo.space import SearchSpace, Uniform
from netopt.hpo.summary import write_summary
from netopt.hpo.trials import Job, Journal, Record, outcome
from netopt.labels import folder_name
from netopt.studies.hpo_clock import run_on_clock

METRIC = "val_acc"
LR, MOMENTUM = Uniform("optimizer.lr", 1e-3, 1.0, log=True), Uniform("optimizer.momentum", 0.0, 0.95)
SPACE = SearchSpace([LR, MOMENTUM])
#: Every trial: SGD with momentum on the Fashion-MNIST MLP with 5,000 training images (off the accuracy
#: ceiling the digits reach: there every searcher finds about the same best model), 6,000 validation
#: images (0.5% is 30 of them), one thread.
COMMON = (
    "optimizer=momentum",
    "dataset=fashion_mnist",
    "dataset.train_size=5000",
    "trainer.progress=false",
    "trainer.num_threads=1",
)
SEARCHERS = ("grid", "random", "bayes", "hyperband", "asha", "bohb", "pbt")
ASYNCHRONOUS = ("asha", "bohb", "pbt")  # the others run in rounds, as their sweepers do by default
ETA = 3
WORKERS = 2
CHECKPOINT = "checkpoint.pt"  # the run folder's file a PBT fork copies
#: A trial: its config and run folder in, its metrics dict out (the runner's fit).
Fit = Callable[[DictConfig, Path], Any]


def make_search(name: str, grid: int, epochs: int, seed: int) -> Any:
    """The strategy of one searcher, over SPACE, with the budget of a k x k grid of E-epoch trials."""
    trials = grid**2
    if name == "grid":
        return GridSearch(SPACE, grid)
    if name == "random":
        return RandomSearch(SPACE, trials, seed=seed)
    if name == "bayes":
        return BayesSearch(SPACE, trials, batch_size=1, n_initial=max(2, trials // 2), seed=seed)
    if name == "asha":  # more configurations than the budget can start: the budget ends it
        return ASHA(SPACE, max_epochs=epochs, eta=ETA, n_trials=trials * epochs, seed=seed)
    if name == "bohb":
        return BOHB(SPACE, max_epochs=epochs, eta=ETA, seed=seed)
    if name == "pbt":
        interval = max(1, epochs // 4)
        return PBT(SPACE, population=trials, interval=interval, max_epochs=epochs, seed=seed, barrier=False)
    return Hyperband(SPACE, max_epochs=epochs, eta=ETA, seed=seed)


def claims(budget: int) -> list[dict[str, Any]]:
    """The claims, as data: each compares a number of the searches between searchers (mean over
    seeds). ``best_val_acc`` is the best validation accuracy a search found, ``best_val_acc@e`` the best
    within its first e epochs. "At least as good" allows half a point (30 validation images).
    ``test_acc_of_best`` is the test accuracy of the configuration a search chose (its best val_acc):
    what the search is for. ``idle_share`` is the share of worker-seconds not spent in a trial with
    WORKERS workers, ``time_to_grid_best_vs_hyperband`` the time a search took to reach the grid's
    best val_acc (same seed) over the time synchronous Hyperband took (:mod:`netopt.studies.hpo_clock`)."""
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
        },
        {
            "statement": "What a search is for: the model random search chooses (its best val_acc) tests at "
            "least as well as the grid's (within half a point of test accuracy)",
            "metric": "test_acc_of_best",
            "left": {"searcher": "random"},
            "op": ">=",
            "right": {"searcher": "grid"},
            "margin": -0.005,
        },
        {
            "statement": f"With {WORKERS} workers, ASHA's workers are idle less than 5% of the time "
            "(Li et al. 2020: a promotion never waits for a rung to fill)",
            "metric": "idle_share",
            "left": {"searcher": "asha"},
            "op": "<",
            "right": 0.05,
        },
        {
            "statement": f"With {WORKERS} workers, ASHA's workers are idle less of the time than synchronous "
            "Hyperband's (whose rounds wait for their slowest job)",
            "metric": "idle_share",
            "left": {"searcher": "asha"},
            "op": "<",
            "right": {"searcher": "hyperband"},
        },
        {
            "statement": f"With {WORKERS} workers, ASHA reaches the grid's best val_acc in at most half the "
            "wall time synchronous Hyperband takes (seeds where both reach it)",
            "metric": "time_to_grid_best_vs_hyperband",
            "left": {"searcher": "asha"},
            "op": "<=",
            "right": 0.5,
        },
        {
            "statement": "BOHB (Hyperband's brackets, TPE proposals) finds a val_acc at least as good as "
            "Hyperband's with the same epochs (within half a point; Falkner et al. 2018)",
            "metric": "best_val_acc",
            "left": {"searcher": "bohb"},
            "op": ">=",
            "right": {"searcher": "hyperband"},
            "margin": -0.005,
        },
        {
            "statement": "The model PBT chooses (its schedule of lr and momentum) tests at least as well as "
            "the best trial of constant hyperparameters at the same budget: random search's, whose "
            "trials are PBT's starting population (within half a point; Jaderberg et al. 2017)",
            "metric": "test_acc_of_best",
            "left": {"searcher": "pbt"},
            "op": ">=",
            "right": {"searcher": "random"},
            "margin": -0.005,
        },
    ]


@dataclass(frozen=True)
class Search:
    """One finished search: its records in launch order, its wall time (in this process) and the
    workers of its clock."""

    searcher: str
    seed: int
    folder: Path
    records: list[Record]
    seconds: float
    workers: int = WORKERS

    @property
    def curve(self) -> Anytime:
        return anytime(self.records)


def trial_configs(overrides: Sequence[str], seeds: Sequence[int]) -> dict[int, DictConfig]:
    """The netopt-train config of every trial of each seed: COMMON, the overrides and the seed."""
    return {seed: compose(*COMMON, *overrides, f"trainer.seed={seed}") for seed in seeds}


def run_search(
    search: Any,
    base: DictConfig,
    folder: Path,
    epochs: tuple[int, int],
    fit: Fit,
    log: Callable[[str], None],
    asynchronous: bool = False,
) -> list[Record]:
    """Run the strategy on WORKERS workers of the clock (:func:`~netopt.studies.hpo_clock.run_on_clock`),
    fitting each job into its trial folder (a job that raises is a failed trial) within a budget of
    ``epochs = (E, budget)``: E epochs a full trial. Writes journal.jsonl, results.csv and best.yaml
    into folder; returns the records in launch order."""
    max_epochs, budget = epochs

    def launch(job: Job, records: list[Record]) -> tuple[Record, float]:
        began = time.perf_counter()
        cfg = copy.deepcopy(base)
        for key, value in job.params.items():
            OmegaConf.update(cfg, key, value)
        cfg.trainer.max_epochs = job.budget or max_epochs
        if job.budget is not None:  # a promoted trial or a PBT member continues its run and schedule
            cfg.trainer.schedule_epochs = max_epochs
            cfg.trainer.resume = "auto"
        trial_dir = folder / f"{job.trial:03d}_{folder_name(job.params)}"
        result: Any
        fitted = None  # when the trial's run started
        try:
            if job.parent is not None:
                fork(job, records, trial_dir, CHECKPOINT)
            fitted = time.perf_counter()
            result = fit(cfg, trial_dir)
            trial_s = time.perf_counter() - fitted
            if isinstance(search, PBT):  # its state at this epoch, for an asynchronous fork
                keep(trial_dir, CHECKPOINT, job.budget)
        except Exception as error:
            result = error
            trial_s = 0.0 if fitted is None else time.perf_counter() - fitted
        record = replace(outcome(job, result, METRIC), run_dir=str(trial_dir))
        record = replace(record, metrics={**record.metrics, "trial_s": trial_s})
        if record.status != "completed":
            log(f"  trial {job.trial} {record.status}: {record.error}")
        return record, time.perf_counter() - began

    records = run_on_clock(search, launch, WORKERS, asynchronous, budget)
    Journal(folder).append(records)
    write_summary(folder, records, METRIC, maximize=True)
    return records


def compare(
    bases: Mapping[int, DictConfig],
    searchers: Sequence[str],
    grid: int,
    epochs: int,
    out: Path,
    fit: Fit,
    log: Callable[[str], None] = print,
) -> list[Search]:
    """Every searcher for every seed (its trials' base config), each into ``out/<searcher>_seed<s>``."""
    searches = []
    for seed, base in bases.items():
        for name in searchers:
            start = time.perf_counter()
            folder = out / f"{name}_seed{seed}"
            search = make_search(name, grid, epochs, seed)
            budget = (epochs, grid**2 * epochs)
            records = run_search(search, base, folder, budget, fit, log, name in ASYNCHRONOUS)
            done = Search(name, seed, folder, records, time.perf_counter() - start)
            searches.append(done)
            log(
                f"{name:9s} seed {seed}: {len(records):2d} jobs, {done.curve.epochs[-1]:3.0f} epochs, "
                f"best {METRIC} {done.curve.best[-1]:.4f}  ({done.seconds:.0f} s)"
            )
    return searches
