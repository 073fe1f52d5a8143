"""Hyperparameter optimization, free of Hydra: search spaces, random search, Bayesian optimization
(Gaussian process + expected improvement), successive halving / Hyperband, and the records,
journal and summary of a sweep. The Hydra sweepers in ``hydra_plugins/netopt_sweepers`` drive these.
"""

from netopt.hpo.hyperband import Hyperband, bracket_rungs
from netopt.hpo.search import BayesSearch, RandomSearch
from netopt.hpo.space import Choice, Integer, SearchSpace, Uniform
from netopt.hpo.trials import Job, Journal, Record, outcome

__all__ = [
    "BayesSearch",
    "Choice",
    "Hyperband",
    "Integer",
    "Job",
    "Journal",
    "RandomSearch",
    "Record",
    "SearchSpace",
    "Uniform",
    "bracket_rungs",
    "outcome",
]
