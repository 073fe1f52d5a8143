"""NAdam (Dozat 2016): Adam with Nesterov momentum (beyond Qiu Xipeng, Neural Networks and Deep
Learning, ch. 7)."""

from typing import Any

import torch
from torch import Tensor

from netopt.checks import require_nonnegative
from netopt.optim.adam import (
    adam_denominators,
    adam_rates,
    check_adam_hyperparameters,
    init_moments,
    start_update,
)
from netopt.optim.base import (
    ForeachOptimizer,
    Group,
    State,
    Tensors,
    addcdiv_scaled_,
    scalar_tensor,
    scalar_values,
)


class NAdam(ForeachOptimizer):
    r"""NAdam (``nadam``, Dozat 2016, "Incorporating Nesterov Momentum into Adam"); drop-in for
    PyTorch's ``NAdam``.

    Adam's moments m, v with a momentum schedule mu_t = b1 * (1 - 0.5 * 0.96^(t * psi)),
    psi = ``momentum_decay``, and P_t = mu_1 * ... * mu_t::

        theta <- theta - lr * [ (1 - mu_t) / (1 - P_t) * g + mu_{t+1} / (1 - P_t * mu_{t+1}) * m ]
                               / (sqrt(v / (1 - b2^t)) + eps)

    i.e. the Nesterov look-ahead applied to Adam's first moment. Not in the book, which mentions
    Nesterov momentum for SGD only. State: ``step``, ``mu_product`` (P_t), ``exp_avg``,
    ``exp_avg_sq``.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        check_adam_hyperparameters(lr, betas, eps, weight_decay)
        require_nonnegative(momentum_decay=momentum_decay)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            foreach=foreach,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _init_state(self, group: Group, param: Tensor, state: State) -> None:
        init_moments(param, state)
        state["mu_product"] = scalar_tensor(1.0)

    def _update(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> None:
        steps, grads, exp_avgs, exp_avg_sqs = start_update(group, params, grads, states)
        (beta1, beta2), lr, psi = group["betas"], group["lr"], group["momentum_decay"]
        mus = [beta1 * (1.0 - 0.5 * 0.96 ** (t * psi)) for t in steps]
        next_mus = [beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi)) for t in steps]
        mu_products = [s["mu_product"] for s in states]
        torch._foreach_mul_(mu_products, mus)
        products = scalar_values(mu_products)
        denominators = adam_denominators(exp_avg_sqs, beta2, steps, group["eps"])
        grad_scales = [-lr * (1 - mu) / (1 - p) for mu, p in zip(mus, products, strict=True)]
        avg_scales = [
            -lr * mu_next / (1 - p * mu_next) for mu_next, p in zip(next_mus, products, strict=True)
        ]
        addcdiv_scaled_(params, grads, denominators, grad_scales)
        addcdiv_scaled_(params, exp_avgs, denominators, avg_scales)

    def effective_lr(self, param: Tensor) -> Tensor | None:
        """lr / (sqrt(v / (1 - b2^t)) + eps) elementwise, as Adam's: the latest update was
        theta <- theta - effective_lr * [(1 - mu_t) / (1 - P_t) * g + mu_{t+1} / (1 - P_t * mu_{t+1}) * m]
        (the bracket: the Nesterov estimate of the bias-corrected moment)."""
        found = self._state_and_group(param)
        if found is None:
            return None
        state, group = found
        return adam_rates(group, state, state["exp_avg_sq"])
