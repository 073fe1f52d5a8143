"""Adagrad: per-coordinate learning rates from the accumulated squared gradients."""

from typing import Any

import torch
from torch import Tensor

from netopt.checks import require_nonnegative
from netopt.optim.base import (
    ForeachOptimizer,
    Group,
    State,
    Tensors,
    advance_steps,
    coupled_grads,
    scalar_tensor,
)


class Adagrad(ForeachOptimizer):
    r"""Adagrad (``adagrad``); drop-in for PyTorch's ``Adagrad``.

    With g = grad + lambda * theta and alpha_t = alpha / (1 + (t - 1) * lr_decay)::

        G <- G + g * g ;  theta <- theta - alpha_t * g / (sqrt(G) + eps)

    G starts at ``initial_accumulator_value``. The chapter puts eps inside the root,
    alpha / sqrt(G + eps); netopt follows torch (eps outside). State: ``step``, ``sum`` (= G).
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
    ) -> None:
        require_nonnegative(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
        )
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            eps=eps,
            initial_accumulator_value=initial_accumulator_value,
            foreach=foreach,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _init_state(self, group: Group, param: Tensor, state: State) -> None:
        state["step"] = scalar_tensor(0.0)
        state["sum"] = torch.full_like(
            param, group["initial_accumulator_value"], memory_format=torch.preserve_format
        )

    def _update(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> None:
        steps = [step.item() for step in advance_steps(states)]
        grads = coupled_grads(params, grads, group["weight_decay"], group["maximize"])
        sums = [s["sum"] for s in states]
        torch._foreach_addcmul_(sums, grads, grads)
        denominators = torch._foreach_sqrt(sums)
        torch._foreach_add_(denominators, group["eps"])
        lr, lr_decay = group["lr"], group["lr_decay"]
        torch._foreach_addcdiv_(params, grads, denominators, [-lr / (1 + (t - 1) * lr_decay) for t in steps])
