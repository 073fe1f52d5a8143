"""ADOPT (Taniguchi et al. 2024): Adam with the gradient normalized by the second moment of the
steps before it, so that it converges for any beta2."""

from typing import Any

import torch
from torch import Tensor

from netopt.checks import require_nonnegative
from netopt.optim.adam import check_adam_hyperparameters, init_moments
from netopt.optim.base import (
    ForeachOptimizer,
    Group,
    State,
    Tensors,
    add_scaled_,
    coupled_grads,
    ema_of_squares_,
    step_counts,
)


class ADOPT(ForeachOptimizer):
    r"""ADOPT (``adopt``, Taniguchi et al. 2024, "ADOPT: Modified Adam Can Converge with Any beta2 with
    the Optimal Rate"), with the clipping of its revised version.

    The first step only sets v = g * g; from then on, with g = grad (+ lambda * theta unless
    ``decouple``)::

        m <- b1 * m + (1 - b1) * clip(g / max(sqrt(v), eps), c_t)
        theta <- theta - lr * m            (after theta <- (1 - lr * lambda) * theta if ``decouple``)
        v <- b2 * v + (1 - b2) * g * g

    Unlike Adam, g is divided by the second moment of the earlier gradients only (independent of
    g), and before the momentum. clip(x, c) limits each coordinate to [-c, c] with c_t = s^p after
    s updates (p = ``clip_exponent``, 1/4 in the paper; None: no clipping). Its hyperparameters are
    the authors' implementation's (not in torch.optim), whose callable ``clip_lambda`` is here the
    exponent p, with torch's ``foreach`` and ``maximize``. State: ``step`` (the first step counts),
    ``exp_avg`` (m), ``exp_avg_sq`` (v).
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.9999),
        eps: float = 1e-6,
        clip_exponent: float | None = 0.25,
        weight_decay: float = 0.0,
        decouple: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        check_adam_hyperparameters(lr, betas, eps, weight_decay)
        if clip_exponent is not None:
            require_nonnegative(clip_exponent=clip_exponent)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            clip_exponent=clip_exponent,
            weight_decay=weight_decay,
            decouple=decouple,
            foreach=foreach,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _init_state(self, group: Group, param: Tensor, state: State) -> None:
        init_moments(param, state)

    def _update(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> None:
        steps = step_counts(states)
        lr, weight_decay, decouple = group["lr"], group["weight_decay"], group["decouple"]
        grads = coupled_grads(params, grads, 0.0 if decouple else weight_decay, group["maximize"])
        first = [i for i, t in enumerate(steps) if t == 1]
        for i in first:  # v_0 = g_0 * g_0
            states[i]["exp_avg_sq"].copy_(grads[i] * grads[i])
        later = [i for i, t in enumerate(steps) if t > 1]
        if not later:
            return
        params = [params[i] for i in later]
        grads = [grads[i] for i in later]
        exp_avgs = [states[i]["exp_avg"] for i in later]
        exp_avg_sqs = [states[i]["exp_avg_sq"] for i in later]
        if decouple and weight_decay != 0:
            torch._foreach_mul_(params, 1 - lr * weight_decay)
        denominators = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_clamp_min_(denominators, group["eps"])
        normalized = torch._foreach_div(grads, denominators)
        if group["clip_exponent"] is not None:
            bounds = [(steps[i] - 1) ** group["clip_exponent"] for i in later]
            torch._foreach_clamp_max_(normalized, bounds)
            torch._foreach_clamp_min_(normalized, [-c for c in bounds])
        beta1, beta2 = group["betas"]
        torch._foreach_lerp_(exp_avgs, normalized, 1 - beta1)
        add_scaled_(params, exp_avgs, -lr)
        ema_of_squares_(exp_avg_sqs, grads, beta2)
