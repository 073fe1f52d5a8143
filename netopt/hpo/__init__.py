"""Hyperparameter optimization, free of Hydra: search spaces, grid and random search, Bayesian
optimization (Gaussian process + expected improvement), successive halving / Hyperband, asynchronous
successive halving (ASHA), BOHB (Hyperband with TPE proposals), population-based training, the
records, journal and summary of a sweep, and its anytime curve (the best objective against the epochs
spent).
The Hydra sweepers in ``hydra_plugins/netopt_sweepers`` drive these.

The search spaces and strategies need torch and are imported on first use, so that
:mod:`netopt.hpo.summary` (a sweep's table, ``netopt-train --help``'s values) stays light.
"""

from importlib import import_module
from typing import Any

from netopt.hpo.anytime import Anytime, anytime, best_within, spent_epochs
from netopt.hpo.trials import Job, Journal, Record, outcome

#: The names imported on first use, and their modules.
_LAZY = {
    "ASHA": "asha",
    "BOHB": "bohb",
    "PBT": "pbt",
    "promotable": "asha",
    "Hyperband": "hyperband",
    "bracket_rungs": "hyperband",
    "BayesSearch": "search",
    "GridSearch": "search",
    "RandomSearch": "search",
    "Choice": "space",
    "Integer": "space",
    "SearchSpace": "space",
    "Uniform": "space",
}
__all__ = [  # the lazy names too: __getattr__ gives them
    "ASHA",
    "BOHB",
    "Anytime",
    "BayesSearch",
    "Choice",
    "GridSearch",
    "Hyperband",
    "Integer",
    "Job",
    "PBT",
    "Journal",
    "RandomSearch",
    "Record",
    "SearchSpace",
    "Uniform",
    "anytime",
    "best_within",
    "bracket_rungs",
    "outcome",
    "promotable",
    "spent_epochs",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"netopt.hpo.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'netopt.hpo' has no attribute {name!r}")
