"""Optimizers and gradient clipping, written from their update formulas with multi-tensor ops.

Every optimizer is a ``torch.optim.Optimizer`` with torch's hyperparameter names, defaults and
state keys, so it drops into any torch code and its ``state_dict`` loads into its torch namesake.
"""

from netopt.optim.adadelta import Adadelta
from netopt.optim.adagrad import Adagrad
from netopt.optim.adam import Adam, AdamW
from netopt.optim.clip import clip_grad_norm_, clip_grad_value_, global_norm, grad_norm, no_clip
from netopt.optim.lion import Lion
from netopt.optim.nadam import NAdam
from netopt.optim.radam import RAdam
from netopt.optim.rmsprop import RMSprop
from netopt.optim.sam import SAM
from netopt.optim.sgd import SGD

__all__ = [
    "SAM",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Lion",
    "NAdam",
    "RAdam",
    "RMSprop",
    "clip_grad_norm_",
    "clip_grad_value_",
    "global_norm",
    "grad_norm",
    "no_clip",
]
