"""Optimizers, gradient transforms and gradient clipping, written from their update formulas with
multi-tensor ops.

Every optimizer is a ``torch.optim.Optimizer`` with torch's hyperparameter names, order, defaults
and state keys, and no parameter torch's namesake lacks, so it drops into any torch code and its
``state_dict`` loads into its torch namesake. What applies to every optimizer alike is applied
around it: gradient transforms such as gradient noise (:func:`with_transforms`), and compiling the
update (:func:`compile_update`).
"""

from netopt.optim.adadelta import Adadelta
from netopt.optim.adafactor import Adafactor
from netopt.optim.adagrad import Adagrad
from netopt.optim.adam import Adam, AdamW
from netopt.optim.adamax import Adamax
from netopt.optim.adopt import ADOPT
from netopt.optim.asgd import ASGD
from netopt.optim.clip import clip_grad_norm_, clip_grad_value_, global_norm, grad_norm, no_clip
from netopt.optim.compiled import compile_update
from netopt.optim.lamb import LAMB
from netopt.optim.lars import LARS
from netopt.optim.lion import Lion
from netopt.optim.lookahead import Lookahead
from netopt.optim.muon import Muon
from netopt.optim.nadam import NAdam
from netopt.optim.prodigy import Prodigy
from netopt.optim.radam import RAdam
from netopt.optim.rmsprop import RMSprop
from netopt.optim.sam import SAM
from netopt.optim.schedule_free import AdamWScheduleFree, SGDScheduleFree
from netopt.optim.sgd import SGD
from netopt.optim.shampoo import Shampoo
from netopt.optim.split import Split
from netopt.optim.transforms import GradientNoise, with_transforms

__all__ = [
    "ADOPT",
    "ASGD",
    "LAMB",
    "LARS",
    "SAM",
    "SGD",
    "SGDScheduleFree",
    "Shampoo",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "AdamWScheduleFree",
    "Adamax",
    "GradientNoise",
    "Lion",
    "Lookahead",
    "Muon",
    "NAdam",
    "Prodigy",
    "RAdam",
    "RMSprop",
    "Split",
    "clip_grad_norm_",
    "clip_grad_value_",
    "compile_update",
    "global_norm",
    "grad_norm",
    "no_clip",
    "with_transforms",
]
