"""From-scratch layers and losses, exported as ``torch.nn`` exports its own."""

from netopt.nn.dropout import DropConnect, Dropout, VariationalDropout, apply_dropconnect, dropout
from netopt.nn.loss import CrossEntropyLoss, cross_entropy
from netopt.nn.norm import (
    BatchNorm1d,
    BatchNorm2d,
    GroupNorm,
    LayerNorm,
    LocalResponseNorm,
    WeightNorm,
    weight_normalized,
)

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "CrossEntropyLoss",
    "DropConnect",
    "Dropout",
    "GroupNorm",
    "LayerNorm",
    "LocalResponseNorm",
    "VariationalDropout",
    "WeightNorm",
    "apply_dropconnect",
    "cross_entropy",
    "dropout",
    "weight_normalized",
]
