"""RAdam (Liu et al. 2020): Adam whose adaptive step is switched on only once its variance is
tractable."""

import math
from typing import Any

import torch
from torch import Tensor

from netopt.optim.adam import check_adam_hyperparameters, init_moments, start_update
from netopt.optim.base import ForeachOptimizer, Group, Scalar, State, Tensors, add_scaled_, addcdiv_scaled_


def rectification(t: Scalar, beta2: float) -> Scalar:
    """r_t of Liu et al. (2020): sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
    while rho_t = rho_inf - 2 t b2^t / (1 - b2^t) > 5 (rho_inf = 2 / (1 - b2) - 1), else 0."""
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2.0 * t * beta2**t / (1.0 - beta2**t)
    if not isinstance(rho_t, Tensor) and rho_t <= 5.0:
        return 0.0
    ratio = (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
    if isinstance(ratio, Tensor):  # compiled: a select, as the graph cannot branch on t
        return torch.where(rho_t > 5.0, ratio.clamp(min=0.0).sqrt(), 0.0)
    return math.sqrt(ratio)


class RAdam(ForeachOptimizer):
    r"""Rectified Adam (``radam``, Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and
    Beyond"); drop-in for PyTorch's ``RAdam``. Beyond Qiu Xipeng, Neural Networks and Deep Learning,
    ch. 7.

    Adam's moments m, v (with coupled weight decay, or decoupled with ``decoupled_weight_decay``);
    with r_t the variance rectification (:func:`rectification`)::

        theta <- theta - lr * m / (1 - b1^t) * r_t * sqrt(1 - b2^t) / (sqrt(v) + eps)   if r_t > 0
        theta <- theta - lr * m / (1 - b1^t)                                            otherwise

    In the first steps, while the adaptive rate's variance is intractable, this is momentum SGD:
    a warm-up built into the optimizer. State: ``step``, ``exp_avg``, ``exp_avg_sq``.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        check_adam_hyperparameters(lr, betas, eps, weight_decay)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            foreach=foreach,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _init_state(self, group: Group, param: Tensor, state: State) -> None:
        init_moments(param, state)

    def _update(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> None:
        steps, _, exp_avgs, exp_avg_sqs = start_update(group, params, grads, states)
        (beta1, beta2), lr = group["betas"], group["lr"]
        rects = [rectification(t, beta2) for t in steps]
        if torch.compiler.is_compiling():  # no branching on t: both steps, one of them scaled by 0
            adaptive = plain = list(range(len(params)))
        else:
            adaptive = [i for i, r in enumerate(rects) if r > 0]
            plain = [i for i, r in enumerate(rects) if r == 0]
        if adaptive:
            denominators = torch._foreach_add(
                torch._foreach_sqrt([exp_avg_sqs[i] for i in adaptive]), group["eps"]
            )
            scales = [
                -lr * rects[i] * (1 - beta2 ** steps[i]) ** 0.5 / (1 - beta1 ** steps[i]) for i in adaptive
            ]
            addcdiv_scaled_(
                [params[i] for i in adaptive], [exp_avgs[i] for i in adaptive], denominators, scales
            )
        if plain:
            scales = [-lr * (rects[i] == 0) / (1 - beta1 ** steps[i]) for i in plain]
            add_scaled_([params[i] for i in plain], [exp_avgs[i] for i in plain], scales)

    def effective_lr(self, param: Tensor) -> Tensor | None:
        """lr * r_t * sqrt(1 - b2^t) / (sqrt(v) + eps) elementwise while r_t > 0, else lr everywhere:
        the latest update was theta <- theta - effective_lr * m / (1 - b1^t)."""
        found = self._state_and_group(param)
        if found is None:
            return None
        state, group = found
        t, beta2, lr = state["step"].item(), group["betas"][1], group["lr"]
        rect = rectification(t, beta2)
        if rect == 0:
            return torch.full_like(param, lr)
        return lr * rect * (1 - beta2**t) ** 0.5 / (state["exp_avg_sq"].sqrt() + group["eps"])
