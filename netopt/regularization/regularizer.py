"""The protocol every regularizer follows: six hooks into a run, each doing nothing by default.

The runner hands :meth:`Regularizer.model_arguments` to the model's constructor, calls
:meth:`Regularizer.attach` once the model is initialized, trains on the data loss that
:meth:`Regularizer.data_loss` makes of cross-entropy plus :meth:`Regularizer.penalties` (each logged
as ``train/<name>``), calls the hook of :meth:`Regularizer.step_hook` after every optimizer step and
logs :meth:`Regularizer.measures` after every epoch.
"""

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

#: A data loss: the mean loss of ``logits (N, C)`` against class indices ``target (N,)``.
DataLoss = Callable[[Tensor, Tensor], Tensor]


def penalized_parameters(model: nn.Module, penalize_all: bool = False) -> list[nn.Parameter]:
    """The trainable parameters a penalty applies to: those with >= 2 dims unless ``penalize_all``.

    The tensors with fewer than two dimensions (biases, batch/layer/group norm gains and shifts) are left
    alone, as is usual practice; weight norm's gain g, of shape (out, 1, ...), counts as a weight. The chapter
    (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7) penalizes every parameter (``penalize_all``).
    """
    return [p for p in model.parameters() if p.requires_grad and (penalize_all or p.dim() >= 2)]


class Regularizer:
    """A regularizer: override the hooks it needs; the others do nothing."""

    def model_arguments(self, model: Callable[..., nn.Module]) -> dict[str, Any]:
        """What ``model``'s constructor (a model class) takes from this regularizer."""
        return {}

    def attach(self, model: nn.Module) -> None:
        """Act on the initialized ``model`` (parametrize its weights, note the parameters penalized)."""

    def data_loss(self, loss: DataLoss) -> DataLoss:
        """The data loss to train on, given ``loss``, the one before this regularizer."""
        return loss

    def penalties(self) -> dict[str, Tensor]:
        """Named terms added to the loss, each a differentiable 0-dim tensor."""
        return {}

    def step_hook(self, optimizer: torch.optim.Optimizer) -> Callable[[], None] | None:
        """What to call after every step of ``optimizer``, or None."""
        return None

    def measures(self) -> dict[str, float]:
        """Named measures of the model after every epoch."""
        return {}
