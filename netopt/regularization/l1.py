"""The L1 penalty (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7), as a loss term or as a
proximal step.

As a loss term, added to the data loss,

    loss = data_loss + strength * sum_w |w|,

over the weights only by default (:func:`netopt.regularization.penalized_parameters`). Its
(sub)gradient strength * sign(w) moves a weight past zero rather than onto it, so it leaves weights
small but almost never exactly 0. The proximal step (``proximal=True``) makes the sparsity the chapter
ascribes to L1 real: the loss keeps no L1 term, and after every optimizer step each penalized weight is
soft-thresholded with its param group's lr (ISTA, the proximal gradient method: Tibshirani 1996,
Regression Shrinkage and Selection via the Lasso; Duchi & Singer 2009, Efficient Online and Batch
Learning Using Forward Backward Splitting).
"""

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from netopt.checks import require_nonnegative
from netopt.regularization.regularizer import Regularizer, penalized_parameters


@torch.no_grad()
def soft_threshold_(params: list[Tensor], threshold: float) -> None:
    """The proximal operator of ``threshold * sum_w |w|``, in place on every tensor of ``params``:

        w <- sign(w) * max(|w| - threshold, 0),

    computed as w - clamp(w, -threshold, threshold) (the same numbers) in three multi-tensor ops.
    """
    if not params:
        return
    inside = torch._foreach_clamp_min(params, -threshold)
    torch._foreach_clamp_max_(inside, threshold)
    torch._foreach_sub_(params, inside)


def sparsity(params: Sequence[Tensor]) -> float:
    """The fraction of the entries of ``params`` that are exactly 0 (NaN for no entries)."""
    total = sum(p.numel() for p in params)
    if not total:
        return float("nan")
    return torch.stack([(p == 0).sum() for p in params]).sum().item() / total


class L1(Regularizer):
    """``l1 = strength * sum_w |w|`` over the penalized parameters, or with ``proximal`` the step
    w <- sign(w) max(|w| - lr * strength, 0) after every optimizer step; ``sparsity`` measured after
    every epoch. ``strength`` 0 switches it off (no term, no step, no measure)."""

    def __init__(self, strength: float = 1e-5, proximal: bool = False, penalize_all: bool = False) -> None:
        require_nonnegative(strength=strength)
        self.strength, self.proximal, self.penalize_all = strength, proximal, penalize_all
        self.params: list[nn.Parameter] = []

    def attach(self, model: nn.Module) -> None:
        self.params = penalized_parameters(model, self.penalize_all)

    def penalties(self) -> dict[str, Tensor]:
        """The L1 term, unless it is switched off or taken as a proximal step."""
        if not self.strength or self.proximal:
            return {}
        # sum() of no parameters is the int 0; a tensor start would cost an extra add every step
        return {"l1": self.strength * sum(p.abs().sum() for p in self.params)}  # type: ignore[dict-item]

    def step_hook(self, optimizer: torch.optim.Optimizer) -> Callable[[], None] | None:
        """With ``proximal``, the proximal L1 step on the penalized weights, each soft-thresholded by
        lr * strength with the current lr of its param group (:func:`soft_threshold_`). After an
        adaptive optimizer's step (Adam, RMSprop) this thresholds by its base lr, not by each weight's
        own step size: an approximation of the proximal step of its preconditioned gradient step."""
        if not (self.strength and self.proximal):
            return None
        penalized = {id(p) for p in self.params}
        chosen = [(g, [p for p in g["params"] if id(p) in penalized]) for g in optimizer.param_groups]
        groups = [(group, params) for group, params in chosen if params]

        def proximal_step() -> None:
            for group, params in groups:
                soft_threshold_(params, group["lr"] * self.strength)

        return proximal_step

    def measures(self) -> dict[str, float]:
        """``sparsity``: the fraction of the penalized weights exactly 0."""
        return {"sparsity": sparsity(self.params)} if self.strength else {}
