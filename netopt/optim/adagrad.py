"""Adagrad (Duchi et al. 2011): per-coordinate learning rates from the accumulated squared
gradients."""

from typing import Any

import torch
from torch import Tensor

from netopt.checks import require_nonnegative
from netopt.optim.base import (
    ForeachOptimizer,
    Group,
    State,
    Tensors,
    addcdiv_scaled_,
    coupled_grads,
    scalar_tensor,
    step_counts,
)


class Adagrad(ForeachOptimizer):
    r"""Adagrad (``adagrad``, Duchi et al. 2011, "Adaptive Subgradient Methods for Online Learning and
    Stochastic Optimization"); drop-in for PyTorch's ``Adagrad``.

    With g = grad + lambda * theta and alpha_t = alpha / (1 + (t - 1) * lr_decay)::

        G <- G + g * g ;  theta <- theta - alpha_t * g / (sqrt(G) + eps)

    G starts at ``initial_accumulator_value``. Qiu Xipeng, Neural Networks and Deep Learning, ch. 7,
    puts eps inside the root,
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
        steps = step_counts(states)
        grads = coupled_grads(params, grads, group["weight_decay"], group["maximize"])
        sums = [s["sum"] for s in states]
        torch._foreach_addcmul_(sums, grads, grads)
        denominators = torch._foreach_sqrt(sums)
        torch._foreach_add_(denominators, group["eps"])
        lr, lr_decay = group["lr"], group["lr_decay"]
        addcdiv_scaled_(params, grads, denominators, [-lr / (1 + (t - 1) * lr_decay) for t in steps])

    def effective_lr(self, param: Tensor) -> Tensor | None:
        """alpha_t / (sqrt(G) + eps) elementwise, alpha_t = lr / (1 + (t - 1) * lr_decay): the latest
        update was theta <- theta - effective_lr * g. It never increases while lr is constant."""
        found = self._state_and_group(param)
        if found is None:
            return None
        state, group = found
        lr = group["lr"] / (1 + (state["step"].item() - 1) * group["lr_decay"])
        return lr / (state["sum"].sqrt() + group["eps"])
