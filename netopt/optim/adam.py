"""Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019): momentum on the gradient, RMSprop
on its scale, both bias-corrected."""

from typing import Any

import torch
from torch import Tensor

from netopt.checks import require_fraction, require_length, require_nonnegative
from netopt.optim.base import (
    ForeachOptimizer,
    Group,
    Scalar,
    State,
    Tensors,
    addcdiv_scaled_,
    coupled_grads,
    ema_of_squares_,
    per_tensor,
    scalar_tensor,
    step_counts,
)


def decayed_grads(group: Group, params: list[Tensor], grads: Tensors) -> Tensors:
    """Apply the group's weight decay: decoupled, theta <- (1 - lr * lambda) * theta in place, or
    coupled, g <- g + lambda * theta. Returns the gradient to use (negated when maximizing)."""
    weight_decay = group["weight_decay"]
    if group["decoupled_weight_decay"]:
        if weight_decay != 0:
            torch._foreach_mul_(params, 1 - group["lr"] * weight_decay)
        weight_decay = 0.0
    return coupled_grads(params, grads, weight_decay, group["maximize"])


def update_moments(group: Group, grads: Tensors, states: list[State]) -> tuple[list[Tensor], list[Tensor]]:
    """m <- b1 * m + (1 - b1) * g ; v <- b2 * v + (1 - b2) * g * g in place; returns (m, v)."""
    beta1, beta2 = group["betas"]
    exp_avgs = [s["exp_avg"] for s in states]
    exp_avg_sqs = [s["exp_avg_sq"] for s in states]
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    ema_of_squares_(exp_avg_sqs, grads, beta2)
    return exp_avgs, exp_avg_sqs


def start_update(
    group: Group, params: list[Tensor], grads: Tensors, states: list[State]
) -> tuple[list[Scalar], Tensors, list[Tensor], list[Tensor]]:
    """The start of every Adam-family update: t <- t + 1, weight decay (:func:`decayed_grads`),
    then the moments (:func:`update_moments`). Returns (t per parameter, the gradient used, m, v)."""
    steps = step_counts(states)
    grads = decayed_grads(group, params, grads)
    exp_avgs, exp_avg_sqs = update_moments(group, grads, states)
    return steps, grads, exp_avgs, exp_avg_sqs


def adam_denominators(
    exp_avg_sqs: list[Tensor], beta2: float, steps: list[Scalar], eps: float
) -> tuple[Tensor, ...]:
    """Adam's bias-corrected denominators sqrt(v) / sqrt(1 - b2^t) + eps, as new tensors."""
    denominators = torch._foreach_sqrt(exp_avg_sqs)
    corrections = per_tensor([(1 - beta2**t) ** 0.5 for t in steps], exp_avg_sqs[0])
    torch._foreach_div_(denominators, corrections)  # type: ignore[arg-type]
    torch._foreach_add_(denominators, eps)
    return denominators


def adam_rates(group: Group, state: State, exp_avg_sq: Tensor) -> Tensor:
    """lr / (sqrt(v / (1 - b2^t)) + eps) elementwise, v = ``exp_avg_sq``: the rate an Adam-family
    update applies to the bias-corrected moment, computed as the update computes it."""
    beta2, t = group["betas"][1], state["step"].item()
    return group["lr"] / adam_denominators([exp_avg_sq], beta2, [t], group["eps"])[0]


def init_moments(param: Tensor, state: State) -> None:
    """Zero first and second moments and a zero step counter."""
    state["step"] = scalar_tensor(0.0)
    state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
    state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)


def check_adam_hyperparameters(
    lr: float, betas: tuple[float, float], eps: float, weight_decay: float
) -> None:
    """The ranges torch enforces for the Adam family."""
    require_nonnegative(lr=lr, eps=eps, weight_decay=weight_decay)
    require_length("betas", betas, 2)
    require_fraction(**{"betas[0]": betas[0], "betas[1]": betas[1]})


class Adam(ForeachOptimizer):
    r"""Adam (``adam``, Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization") and, with
    ``amsgrad``, AMSGrad (Reddi et al. 2018); drop-in for PyTorch's ``Adam``.

    With g = grad + lambda * theta (coupled decay; ``decoupled_weight_decay=True`` is AdamW)::

        m <- b1 * m + (1 - b1) * g ;  v <- b2 * v + (1 - b2) * g * g
        theta <- theta - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    ``amsgrad`` divides by the running maximum of v instead of v. State: ``step``, ``exp_avg`` (m),
    ``exp_avg_sq`` (v), ``max_exp_avg_sq`` (amsgrad).
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        check_adam_hyperparameters(lr, betas, eps, weight_decay)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            foreach=foreach,
            maximize=maximize,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def _init_state(self, group: Group, param: Tensor, state: State) -> None:
        init_moments(param, state)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def _update(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> None:
        steps, grads, exp_avgs, exp_avg_sqs = start_update(group, params, grads, states)
        if group["amsgrad"]:
            max_exp_avg_sqs = [s["max_exp_avg_sq"] for s in states]
            torch._foreach_maximum_(max_exp_avg_sqs, exp_avg_sqs)
            exp_avg_sqs = max_exp_avg_sqs
        beta1, beta2 = group["betas"]
        denominators = adam_denominators(exp_avg_sqs, beta2, steps, group["eps"])
        addcdiv_scaled_(params, exp_avgs, denominators, [-group["lr"] / (1 - beta1**t) for t in steps])

    def effective_lr(self, param: Tensor) -> Tensor | None:
        """lr / (sqrt(v / (1 - b2^t)) + eps) elementwise (v: its running maximum with ``amsgrad``): the
        latest update was theta <- theta - effective_lr * m / (1 - b1^t), after the decoupled decay
        theta <- (1 - lr * lambda) * theta when that is on."""
        found = self._state_and_group(param)
        if found is None:
            return None
        state, group = found
        return adam_rates(group, state, state["max_exp_avg_sq" if group["amsgrad"] else "exp_avg_sq"])


class AdamW(Adam):
    r"""AdamW (``adamw``, Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization"): Adam with
    decoupled weight decay; drop-in for PyTorch's ``AdamW``.

    theta <- (1 - lr * lambda) * theta, then the Adam step on the plain gradient. This is the weight
    decay of Qiu Xipeng, Neural Networks and Deep Learning, ch. 7,
    theta <- (1 - beta) * theta - alpha * g with beta = lr * lambda; for
    Adam it differs from adding lambda * theta to g (L2), which the adaptive scaling would distort.
    Its :meth:`effective_lr` is Adam's.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            decoupled_weight_decay=True,
        )
