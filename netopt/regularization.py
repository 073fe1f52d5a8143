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
"""

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from netopt.checks import require_fraction, require_nonnegative, require_probability
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


class Regularization:
    """The ``regularization`` group: every field combines with every other.

    The runner hands :meth:`model_arguments` to the model's constructor, calls :meth:`attach` once the
    model is initialized, and trains on :meth:`loss` plus :meth:`penalties` (each logged as
    ``train/<name>``). ``dropout`` and ``dropconnect`` are drop probabilities (the chapter's keep
    rate is 1 - p); ``label_smoothing`` is eps of the target (1 - eps) * onehot + eps / C.
    """

    def __init__(
        self,
        l1: float = 0.0,
        l2: float = 0.0,
        penalize_all: bool = False,
        dropout: float = 0.0,
        dropconnect: float = 0.0,
        label_smoothing: float = 0.0,
    ) -> None:
        require_nonnegative(l1=l1, l2=l2)
        require_fraction(dropout=dropout, dropconnect=dropconnect)
        require_probability(label_smoothing=label_smoothing)
        self.l1, self.l2, self.penalize_all = l1, l2, penalize_all
        self.dropout, self.dropconnect, self.label_smoothing = dropout, dropconnect, label_smoothing
        self.params: list[nn.Parameter] = []

    def model_arguments(self) -> dict[str, Any]:
        """What the model's constructor takes from regularization: the dropout probability."""
        return {"dropout": self.dropout}

    def attach(self, model: nn.Module) -> None:
        """DropConnect on the model's weights, and the parameters the penalties apply to."""
        apply_dropconnect(model, self.dropconnect)
        self.params = penalized_parameters(model, self.penalize_all)

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """Mean cross-entropy of the (label-smoothed) targets."""
        return cross_entropy(logits, target, self.label_smoothing)

    def penalties(self) -> dict[str, Tensor]:
        """The switched-on penalty terms of the attached model's parameters."""
        return penalties(self.params, self.l1, self.l2)
