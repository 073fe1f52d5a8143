"""DropConnect (Wan et al. 2013, Regularization of Neural Networks using DropConnect): inverted dropout
on the weights of every Linear and Conv2d layer, W' = W * M / (1 - p) with M ~ Bernoulli(1 - p), one
mask per forward pass (:class:`netopt.nn.dropout.DropConnect`; Qiu Xipeng, Neural Networks and Deep
Learning, ch. 7).
"""

from torch import nn

from netopt.checks import require_fraction
from netopt.nn.dropout import apply_dropconnect
from netopt.regularization.regularizer import Regularizer


class DropConnect(Regularizer):
    """DropConnect of drop probability ``p`` on the initialized model's weights."""

    def __init__(self, p: float = 0.5) -> None:
        require_fraction(p=p)
        self.p = p

    def attach(self, model: nn.Module) -> None:
        apply_dropconnect(model, self.p)
