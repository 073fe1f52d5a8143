"""Cross-entropy with label smoothing.

With ``C`` classes and smoothing ``eps`` the target of a sample of class ``y`` is

    q = (1 - eps) * onehot(y) + eps / C,      loss = -sum_c q_c log softmax(z)_c
                                                  = (1 - eps) * (-log p_y) + eps * mean_c(-log p_c).

This is PyTorch's convention (``F.cross_entropy`` with ``label_smoothing`` set), which spreads ``eps`` over
all ``C`` classes including the true one; the chapter (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7)
spreads it over the ``C - 1`` wrong classes, ``q = (1 - eps) onehot + eps / (C - 1) (1 - onehot)``, i.e. its
``eps`` is this one's ``eps * (C - 1) / C``.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_REDUCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "mean": Tensor.mean,
    "sum": Tensor.sum,
    "none": lambda loss: loss,
}


def cross_entropy(
    logits: Tensor, target: Tensor, label_smoothing: float = 0.0, reduction: str = "mean"
) -> Tensor:
    """Label-smoothing cross-entropy of ``logits (N, C)`` and class indices ``target (N,)``."""
    if not label_smoothing:  # -log p_y alone: torch's fused log-softmax and NLL, one call
        return F.cross_entropy(logits, target, reduction=reduction)
    log_p = torch.log_softmax(logits, dim=-1)
    loss = F.nll_loss(log_p, target, reduction=reduction)  # -log p_y, reduced
    return (1.0 - label_smoothing) * loss + label_smoothing * _REDUCTIONS[reduction](-log_p.mean(-1))


class CrossEntropyLoss(nn.Module):
    """Module form of :func:`cross_entropy`, with ``torch.nn.CrossEntropyLoss``'s argument names."""

    def __init__(self, label_smoothing: float = 0.0, reduction: str = "mean") -> None:
        super().__init__()
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.label_smoothing = label_smoothing
        self.reduction = reduction

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return cross_entropy(logits, target, self.label_smoothing, self.reduction)

    def extra_repr(self) -> str:
        return f"smoothing={self.label_smoothing}, reduction={self.reduction!r}"
