"""Regularization, one component: penalties in the loss, dropout rates handed to the model,
DropConnect on its weights, label smoothing in its loss (Qiu Xipeng, Neural Networks and Deep
Learning, ch. 7).

Penalties are added to the data loss,

    loss = data_loss + l1 * sum_w |w| + l2 / 2 * sum_w w^2,

over the weights only by default: the tensors with fewer than two dimensions (biases, batch/layer/
group norm gains and shifts) are left alone, as is usual practice; weight norm's gain g, of shape
(out, 1, ...), counts as a weight. The chapter penalizes every parameter. Weight decay is the
optimizers' ``weight_decay`` instead: coupled, i.e. this L2 penalty, in SGD and Adam; decoupled in
AdamW. Early stopping, which controls training rather than the model, is :mod:`netopt.early_stopping`.

The L1 term's (sub)gradient l1 * sign(w) moves a weight past zero rather than onto it, so it leaves
weights small but almost never exactly 0. The proximal L1 step (``l1_proximal``) makes the sparsity
the chapter ascribes to L1 real: the loss keeps no L1 term, and after every optimizer step each
penalized weight is soft-thresholded with its param group's lr (ISTA, the proximal gradient method:
Tibshirani 1996; Duchi & Singer 2009, Efficient Online and Batch Learning Using Forward Backward
Splitting).
"""

import inspect
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from netopt.checks import require, require_choice, require_fraction, require_nonnegative, require_probability
from netopt.nn.dropout import apply_dropconnect
from netopt.nn.loss import cross_entropy


def penalized_parameters(model: nn.Module, penalize_all: bool = False) -> list[nn.Parameter]:
    """The trainable parameters the penalties apply to: those with >= 2 dims unless ``penalize_all``."""
    return [p for p in model.parameters() if p.requires_grad and (penalize_all or p.dim() >= 2)]


def penalties(params: Sequence[Tensor], l1: float = 0.0, l2: float = 0.0) -> dict[str, Tensor]:
    """The penalty terms that are switched on, ``{"l1": l1 * sum|w|, "l2": l2 / 2 * sum w^2}``.

    Each is a differentiable 0-dim tensor; add their sum to the loss and log each on its own.
    """
    terms = {}
    if l1:
        terms["l1"] = l1 * sum(p.abs().sum() for p in params)
    if l2:
        terms["l2"] = 0.5 * l2 * sum(p.square().sum() for p in params)
    # sum() of no parameters is the int 0; a tensor start would cost an extra add every step
    return terms  # type: ignore[return-value]


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


def _nothing() -> None:
    return None


class Regularization:
    """The ``regularization`` group: every field combines with every other.

    The runner hands :meth:`model_arguments` to the model's constructor, calls :meth:`attach` once the
    model is initialized, trains on :meth:`loss` plus :meth:`penalties` (each logged as
    ``train/<name>``), calls :meth:`step_hook`'s hook after every optimizer step and logs
    :meth:`measures` after every epoch. ``dropout`` and ``dropconnect`` are drop probabilities (the
    chapter's keep rate is 1 - p); ``label_smoothing`` is eps of the target (1 - eps) * onehot + eps / C;
    ``l1_proximal`` takes the L1 penalty as a proximal step instead of a loss term (see the module);
    ``rnn_dropout`` is how a recurrent model draws its dropout masks: ``variational``, one mask per
    sequence (Gal & Ghahramani 2016), or ``naive``, a new mask at every time step (Zaremba et al. 2014),
    both on the non-recurrent connections only.
    """

    def __init__(
        self,
        l1: float = 0.0,
        l2: float = 0.0,
        penalize_all: bool = False,
        dropout: float = 0.0,
        dropconnect: float = 0.0,
        label_smoothing: float = 0.0,
        l1_proximal: bool = False,
        rnn_dropout: Literal["variational", "naive"] = "variational",
    ) -> None:
        require_nonnegative(l1=l1, l2=l2)
        require_fraction(dropout=dropout, dropconnect=dropconnect)
        require_probability(label_smoothing=label_smoothing)
        require_choice("rnn_dropout", rnn_dropout, ("variational", "naive"))
        self.l1, self.l2, self.penalize_all, self.l1_proximal = l1, l2, penalize_all, l1_proximal
        self.dropout, self.dropconnect, self.label_smoothing = dropout, dropconnect, label_smoothing
        self.rnn_dropout = rnn_dropout
        self.params: list[nn.Parameter] = []

    def model_arguments(self, model: Callable[..., nn.Module]) -> dict[str, Any]:
        """What ``model``'s constructor takes from regularization, among the dropout probability and
        ``rnn_dropout`` (only a recurrent model takes it; ``naive`` for another is refused)."""
        taken = inspect.signature(model).parameters
        recurrent = "rnn_dropout" in taken
        allowed = "variational (naive needs a recurrent model: model=rnn)"
        require(recurrent or self.rnn_dropout == "variational", "rnn_dropout", allowed, self.rnn_dropout)
        return {"dropout": self.dropout, **({"rnn_dropout": self.rnn_dropout} if recurrent else {})}

    def attach(self, model: nn.Module) -> None:
        """DropConnect on the model's weights, and the parameters the penalties apply to."""
        apply_dropconnect(model, self.dropconnect)
        self.params = penalized_parameters(model, self.penalize_all)

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """Mean cross-entropy of the (label-smoothed) targets."""
        return cross_entropy(logits, target, self.label_smoothing)

    def penalties(self) -> dict[str, Tensor]:
        """The switched-on penalty terms of the attached model's parameters (without L1 when it is a
        proximal step)."""
        return penalties(self.params, 0.0 if self.l1_proximal else self.l1, self.l2)

    def step_hook(self, optimizer: torch.optim.Optimizer) -> Callable[[], None]:
        """What the loop calls after every step of ``optimizer``: with ``l1_proximal``, the proximal L1
        step on the penalized weights, each soft-thresholded by lr * l1 with the current lr of its
        param group (:func:`soft_threshold_`); otherwise nothing. After an adaptive optimizer's step
        (Adam, RMSprop) this thresholds by its base lr, not by each weight's own step size: an
        approximation of the proximal step of its preconditioned gradient step."""
        if not (self.l1 and self.l1_proximal):
            return _nothing
        penalized = {id(p) for p in self.params}
        chosen = [(g, [p for p in g["params"] if id(p) in penalized]) for g in optimizer.param_groups]
        groups = [(group, params) for group, params in chosen if params]

        def proximal_step() -> None:
            for group, params in groups:
                soft_threshold_(params, group["lr"] * self.l1)

        return proximal_step

    def measures(self) -> dict[str, float]:
        """With an L1 penalty, ``sparsity``: the fraction of the penalized weights exactly 0."""
        return {"sparsity": sparsity(self.params)} if self.l1 else {}
