"""Optimizers and gradient clipping, written from their update formulas with multi-tensor ops.

Every optimizer is a ``torch.optim.Optimizer`` with torch's hyperparameter names, defaults and
state keys, so it drops into any torch code and its ``state_dict`` loads into its torch namesake.
"""

from netopt.optim.clip import clip_grad_norm_, clip_grad_value_, grad_norm
from netopt.optim.sgd import SGD

__all__ = ["SGD", "clip_grad_norm_", "clip_grad_value_", "grad_norm"]
