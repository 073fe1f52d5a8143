"""Lion (Chen et al. 2023): the sign of an interpolated momentum as the update (beyond Qiu Xipeng,
Neural Networks and Deep Learning, ch. 7)."""

from typing import Any

import torch
from torch import Tensor

from netopt.checks import require_fraction, require_length, require_nonnegative
from netopt.optim.base import ForeachOptimizer, Group, State, Tensors, add_scaled_, coupled_grads


class Lion(ForeachOptimizer):
    r"""Lion (``lion``, Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms").

    With decoupled weight decay lambda::

        c <- b1 * m + (1 - b1) * g ;  theta <- (1 - lr * lambda) * theta - lr * sign(c)
        m <- b2 * m + (1 - b2) * g

    Every coordinate moves by exactly lr, so lr is typically 3-10x smaller than Adam's. Not in the
    book and not in torch.optim: tested against the formula. Its hyperparameters are the paper's
    (lr, betas, weight_decay), with torch's ``foreach`` and ``maximize``. State: ``exp_avg`` (m).
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        require_nonnegative(lr=lr, weight_decay=weight_decay)
        require_length("betas", betas, 2)
        require_fraction(**{"betas[0]": betas[0], "betas[1]": betas[1]})
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _init_state(self, group: Group, param: Tensor, state: State) -> None:
        state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def _update(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> None:
        grads = coupled_grads(params, grads, 0.0, group["maximize"])
        (beta1, beta2), lr, weight_decay = group["betas"], group["lr"], group["weight_decay"]
        exp_avgs = [s["exp_avg"] for s in states]
        if weight_decay != 0:
            torch._foreach_mul_(params, 1 - lr * weight_decay)
        directions = torch._foreach_lerp(exp_avgs, grads, 1 - beta1)
        torch._foreach_sign_(directions)
        add_scaled_(params, directions, -lr)
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta2)
