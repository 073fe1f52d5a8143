"""Does architecture search pay? The searched architecture against the default one at the same budget
(``netopt-nas``).

Neural architecture search as the chapter frames it (Qiu Xipeng, Neural Networks and Deep Learning,
ch. 7; Zoph & Le 2017, "Neural Architecture Search with Reinforcement Learning"): the architecture's
choices are the dimensions of a search space, searched like any hyperparameters. Here a small space of
the MLP (depth 1-4, width 64-512, activation, dropout; :data:`SPACE`) is searched by Bayesian
optimization (:class:`~netopt.hpo.search.BayesSearch`: a Sobol design of half of the trials, then one
GP + EI proposal at a time, as ``hparams_search=nas`` searches its larger space): every trial is
trained ``epochs`` epochs and scored by its validation accuracy (6,000 images). Then the architecture
with the best trial and the MLP's default (:data:`DEFAULT`, the constructor's defaults) are trained
from scratch with the same budget (the same ``epochs``, optimizer and data) on each seed of the
comparison, and their test accuracies compared paired by seed.

The search's own cost is outside that budget: it trained ``trials x epochs`` epochs before the
comparison's first run, and the claims and the report say so. Its trials train with seed
``search_seed``, which no run of the comparison uses: the trial chosen for its validation accuracy is
not counted again as evidence. The trials are the setting of ``netopt-hpo-budget``
(:data:`~netopt.studies.hpo_budget.COMMON`: SGD with momentum on 5,000 Fashion-MNIST training images,
off the accuracy ceiling; here at lr 0.01, :data:`OVERRIDES`), each a real run in
``<out>/search/NNN_<values>``, searched by the loop that study runs
(:func:`~netopt.studies.hpo_budget.run_search`; journal.jsonl, results.csv and best.yaml as a
sweep's); each run of the comparison is in ``<out>/<architecture>_seed<s>``.

Why a command and not a preset: the comparison is a multirun that needs the search's result before
its first job, and Hydra runs one sweeper per multirun.
"""

import copy
import inspect
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from netopt.hpo.search import BayesSearch
from netopt.hpo.space import Choice, Integer, SearchSpace, Uniform
from netopt.hpo.trials import Record
from netopt.models.mlp import MLP
from netopt.report.records import RunRecord
from netopt.studies.hpo_budget import Fit, run_search

SPACE = SearchSpace(
    [
        Integer("model.depth", 1, 4),
        Choice("model.width", (64, 128, 256, 512)),
        Choice("model.activation", ("relu", "tanh", "gelu")),
        Uniform("model.dropout", 0.0, 0.5),
    ]
)
#: The MLP's own architecture: its constructor's defaults for each dimension of the space.
DEFAULT = {
    name: inspect.signature(MLP).parameters[name.removeprefix("model.")].default for name in SPACE.names
}
ARCHITECTURES = ("searched", "default")
#: Every run's overrides after netopt-hpo-budget's setting: momentum at lr 0.01 rather than its 0.05,
#: at which the validation accuracy of the default MLP jumps by a point or two from epoch to epoch and
#: deep nets with much dropout do not train in 10 epochs: the search would choose among that noise.
OVERRIDES = ("optimizer.lr=0.01",)


def search(
    base: DictConfig, trials: int, epochs: int, seed: int, folder: Path, fit: Fit, log: Callable[[str], None]
) -> list[Record]:
    """The Bayesian search of ``trials`` architectures of ``epochs`` epochs each, seeded ``seed`` (the
    Sobol design and every trial's trainer.seed), into ``folder``; its records in launch order."""
    cfg = copy.deepcopy(base)
    cfg.trainer.seed = seed
    strategy = BayesSearch(SPACE, trials, batch_size=1, n_initial=max(2, trials // 2), seed=seed)
    return run_search(strategy, cfg, folder, epochs, fit, log)


def chosen(records: Sequence[Record]) -> Record:
    """The trial with the best validation accuracy (the first of a tie)."""
    completed = [r for r in records if r.status == "completed"]
    if not completed:
        raise RuntimeError("no trial of the search completed: nothing to choose")
    return max(completed, key=lambda r: r.objective)


def compare(
    bases: Mapping[int, DictConfig],
    architectures: Mapping[str, Mapping[str, Any]],
    epochs: int,
    out: Path,
    fit: Fit,
    log: Callable[[str], None],
) -> list[RunRecord]:
    """Each architecture (its values of the space) trained ``epochs`` epochs on every seed (its base
    config), into ``out/<architecture>_seed<s>``; a record per run: the architecture's
    name its setting, the architecture's values what it used."""
    records = []
    for seed, base in bases.items():
        for name, params in architectures.items():
            cfg = copy.deepcopy(base)
            for key, value in params.items():
                OmegaConf.update(cfg, key, value)
            cfg.trainer.max_epochs = epochs
            folder = out / f"{name}_seed{seed}"
            metrics = fit(cfg, folder)
            settings = {"architecture": name}
            status = str(metrics.get("status", "completed"))
            records.append(RunRecord(settings, metrics, seed, folder, status, used=dict(params)))
            log(f"{name:8s} seed {seed}: {status}, test_acc {metrics.get('test_acc', float('nan')):.4f}")
    return records


def describe(params: Mapping[str, Any]) -> str:
    """An architecture in words: ``2 x 128 relu, dropout 0``."""
    depth, width, activation = (params[f"model.{k}"] for k in ("depth", "width", "activation"))
    return f"{depth} x {width} {activation}, dropout {float(params['model.dropout']):.2g}"


def claims(trials: int, epochs: int, best_val_acc: float) -> list[dict[str, Any]]:
    """The claims, as data, on the records of the comparison: the searched architecture's test accuracy
    against the default's (paired by seed), and its validation accuracy on fresh seeds against the best
    the search saw (the search's number)."""
    cost = f"{trials} trials x {epochs} epochs = {trials * epochs} epochs of search, {trials} times one run"
    return [
        {
            "statement": f"The architecture a Bayesian search chose ({cost}) tests better than the MLP's "
            f"default ({describe(DEFAULT)}) trained with the same {epochs} epochs",
            "metric": "test_acc",
            "left": {"architecture": "searched"},
            "op": ">",
            "right": {"architecture": "default"},
        },
        {
            "statement": f"Trained again on fresh seeds, the chosen architecture validates below the best "
            f"val_acc the search saw ({best_val_acc:.4f}): the best of {trials} noisy scores overstates "
            "its architecture (the winner's curse)",
            "metric": "val_acc",
            "left": {"architecture": "searched"},
            "op": "<",
            "right": best_val_acc,
        },
    ]
