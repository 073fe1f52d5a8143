"""Hyperparameter optimization, free of Hydra: search spaces, grid and random search, Bayesian
optimization (Gaussian process + expected improvement), successive halving / Hyperband, the records,
journal and summary of a sweep, and its anytime curve (the best objective against the epochs spent).
The Hydra sweepers in ``hydra_plugins/netopt_sweepers`` drive these.
"""

from netopt.hpo.anytime import Anytime, anytime, best_within, spent_epochs
from netopt.hpo.hyperband import Hyperband, bracket_rungs
from netopt.hpo.search import BayesSearch, GridSearch, RandomSearch
from netopt.hpo.space import Choice, Integer, SearchSpace, Uniform
from netopt.hpo.trials import Job, Journal, Record, outcome

__all__ = [
    "Anytime",
    "BayesSearch",
    "Choice",
    "GridSearch",
    "Hyperband",
    "Integer",
    "Job",
    "Journal",
    "RandomSearch",
    "Record",
    "SearchSpace",
    "Uniform",
    "anytime",
    "best_within",
    "bracket_rungs",
    "outcome",
    "spent_epochs",
]
