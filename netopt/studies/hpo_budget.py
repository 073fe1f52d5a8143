"""Grid, random, Bayesian and Hyperband search at the same budget of epochs (``netopt-hpo-budget``).

The comparison of the searches that the chapter describes (Qiu Xipeng, Neural Networks and Deep
Learning, ch. 7: random search beats grid search, Bergstra & Bengio 2012; Bayesian optimization;
dynamic resource allocation, Li et al. 2018, Hyperband), run as real trainings; its report is
:mod:`netopt.studies.hpo_budget_report`.

The space: optimizer=momentum with the learning rate log-uniform on [1e-3, 1] and the momentum uniform
on [0, 0.95]. With a grid of k points per axis and E epochs a trial, the budget is k^2 E epochs: the
grid trains its k x k points for E epochs each (the centres of k cells per axis), random search and
Bayesian optimization k^2 trials of E epochs (Bayes: a Sobol design of half of them, then one GP + EI
proposal at a time), and Hyperband (eta 3) its brackets up to E epochs, which spend no more than the
budget. Seed s is the search's seed and every trial's trainer.seed (the grid's points are the same for
every seed).

Each search is the strategy its sweeper builds (:mod:`netopt.hpo`), asked round by round as the
sweepers ask it, and every trial a real run (the ``fit`` given, in this process) in
``<out>/<searcher>_seed<s>/NNN_<values>``; each search folder ends with journal.jsonl, results.csv and
best.yaml as a sweep's does.

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
from netopt.hpo.hyperband import Hyperband
from netopt.hpo.search import BayesSearch, GridSearch, RandomSearch
from netopt.hpo.space import SearchSpace, Uniform
from netopt.hpo.summary import write_summary
from netopt.hpo.trials import Journal, Record, outcome
from netopt.labels import folder_name

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
SEARCHERS = ("grid", "random", "bayes", "hyperband")
ETA = 3
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
    return Hyperband(SPACE, max_epochs=epochs, eta=ETA, seed=seed)


def claims(budget: int) -> list[dict[str, Any]]:
    """The claims, as data: each compares a number of the searches between searchers (mean over
    seeds). ``best_val_acc`` is the best validation accuracy a search found, ``best_val_acc@e`` the best
    within its first e epochs. "At least as good" allows half a point (30 validation images).
    ``test_acc_of_best`` is the test accuracy of the configuration a search chose (its best val_acc):
    what the search is for."""
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


def trial_configs(overrides: Sequence[str], seeds: Sequence[int]) -> dict[int, DictConfig]:
    """The netopt-train config of every trial of each seed: COMMON, the overrides and the seed."""
    return {seed: compose(*COMMON, *overrides, f"trainer.seed={seed}") for seed in seeds}


def run_search(
    search: Any, base: DictConfig, folder: Path, max_epochs: int, fit: Fit, log: Callable[[str], None]
) -> list[Record]:
    """Ask the strategy for jobs and fit each into its trial folder, until it asks for none: the
    sweepers' loop in this process (a job that raises is a failed trial). Writes journal.jsonl,
    results.csv and best.yaml into folder; returns the records in launch order."""
    journal = Journal(folder)
    records: list[Record] = []
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
                result: Any = fit(cfg, trial_dir)
            except Exception as error:
                result = error
            record = replace(outcome(job, result, METRIC), run_dir=str(trial_dir))
            if record.status != "completed":
                log(f"  trial {job.trial} {record.status}: {record.error}")
            journal.append([record])
            records.append(record)
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
            records = run_search(search, base, folder, epochs, fit, log)
            done = Search(name, seed, folder, records, time.perf_counter() - start)
            searches.append(done)
            log(
                f"{name:9s} seed {seed}: {len(records):2d} jobs, {done.curve.epochs[-1]:3.0f} epochs, "
                f"best {METRIC} {done.curve.best[-1]:.4f}  ({done.seconds:.0f} s)"
            )
    return searches
