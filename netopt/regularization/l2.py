"""The L2 penalty (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7), added to the data loss:

    loss = data_loss + strength / 2 * sum_w w^2,

over the weights only by default (:func:`netopt.regularization.penalized_parameters`). Its gradient
strength * w is coupled weight decay, the optimizers' ``weight_decay`` in SGD and Adam.
"""

from torch import Tensor, nn

from netopt.checks import require_nonnegative
from netopt.regularization.regularizer import Regularizer, penalized_parameters


class L2(Regularizer):
    """``l2 = strength / 2 * sum_w w^2`` over the penalized parameters (none when ``strength`` is 0)."""

    def __init__(self, strength: float = 5e-4, penalize_all: bool = False) -> None:
        require_nonnegative(strength=strength)
        self.strength, self.penalize_all = strength, penalize_all
        self.params: list[nn.Parameter] = []

    def attach(self, model: nn.Module) -> None:
        self.params = penalized_parameters(model, self.penalize_all)

    def penalties(self) -> dict[str, Tensor]:
        if not self.strength:
            return {}
        # sum() of no parameters is the int 0; a tensor start would cost an extra add every step
        return {"l2": 0.5 * self.strength * sum(p.square().sum() for p in self.params)}  # type: ignore[dict-item]
