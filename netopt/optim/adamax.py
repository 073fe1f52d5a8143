"""Adamax (Kingma & Ba 2015): Adam with the infinity norm of the past gradients as its scale."""

from typing import Any

import torch
from torch import Tensor

from netopt.optim.adam import check_adam_hyperparameters
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


class Adamax(ForeachOptimizer):
    r"""Adamax (``adamax``, Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization", section 7.1);
    drop-in for PyTorch's ``Adamax``.

    With g = grad + lambda * theta (coupled decay)::

        m <- b1 * m + (1 - b1) * g ;  u <- max(b2 * u, |g| + eps)
        theta <- theta - lr / (1 - b1^t) * m / u

    Adam's second moment taken to the limit of the infinity norm: u needs no bias correction, and
    one large gradient sets the scale until b2^t forgets it. State: ``step``, ``exp_avg`` (m),
    ``exp_inf`` (u).
    """

    def __init__(
        self,
        params: Any,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
    ) -> None:
        check_adam_hyperparameters(lr, betas, eps, weight_decay)
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, foreach=foreach, maximize=maximize
        )
        super().__init__(params, defaults)

    def _init_state(self, group: Group, param: Tensor, state: State) -> None:
        state["step"] = scalar_tensor(0.0)
        state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["exp_inf"] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def _update(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> None:
        steps = step_counts(states)
        grads = coupled_grads(params, grads, group["weight_decay"], group["maximize"])
        beta1, beta2 = group["betas"]
        exp_avgs = [s["exp_avg"] for s in states]
        exp_infs = [s["exp_inf"] for s in states]
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        bounds = torch._foreach_abs(grads)
        torch._foreach_add_(bounds, group["eps"])
        torch._foreach_mul_(exp_infs, beta2)
        torch._foreach_maximum_(exp_infs, bounds)
        addcdiv_scaled_(params, exp_avgs, exp_infs, [-group["lr"] / (1 - beta1**t) for t in steps])

    def effective_lr(self, param: Tensor) -> Tensor | None:
        """lr / u elementwise: the latest update was theta <- theta - effective_lr * m / (1 - b1^t)."""
        found = self._state_and_group(param)
        if found is None:
            return None
        state, group = found
        return group["lr"] / state["exp_inf"]
