"""RMSprop (Tieleman & Hinton 2012): per-coordinate learning rates from a moving average of squared
gradients."""

from typing import Any

import torch
from torch import Tensor

from netopt.checks import require, require_fraction, require_nonnegative
from netopt.optim.base import (
    ForeachOptimizer,
    Group,
    State,
    Tensors,
    add_scaled_,
    addcdiv_scaled_,
    advance_steps,
    coupled_grads,
    ema_of_squares_,
    scalar_tensor,
)


class RMSprop(ForeachOptimizer):
    r"""RMSprop (``rmsprop``, Tieleman & Hinton 2012, Lecture 6.5 of "Neural Networks for Machine
    Learning"); drop-in for PyTorch's ``RMSprop``.

    With g = grad + lambda * theta and a = ``alpha`` (the decay rate beta of Qiu Xipeng, Neural
    Networks and Deep Learning, ch. 7)::

        G <- a * G + (1 - a) * g * g ;  theta <- theta - lr * g / (sqrt(G) + eps)

    ``centered`` also tracks the mean gradient m <- a * m + (1 - a) * g and divides by
    sqrt(G - m * m) + eps; ``momentum`` mu accumulates v <- mu * v + g / (sqrt(G) + eps) and steps
    theta <- theta - lr * v. The book puts eps inside the root. ``capturable`` (torch's CUDA-graph
    option, kept so that torch's positional order holds) must stay false. State: ``step``,
    ``square_avg`` (= G), ``grad_avg`` (centered), ``momentum_buffer`` (momentum > 0).
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        require_nonnegative(lr=lr, eps=eps, weight_decay=weight_decay)
        require_fraction(alpha=alpha, momentum=momentum)
        require(
            capturable is False,
            "capturable",
            "false (no CUDA-graph capture: the step count stays on the CPU)",
            capturable,
        )
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
            capturable=capturable,
            foreach=foreach,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _init_state(self, group: Group, param: Tensor, state: State) -> None:
        state["step"] = scalar_tensor(0.0)
        state["square_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        if group["momentum"] > 0:
            state["momentum_buffer"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        if group["centered"]:
            state["grad_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def _update(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> None:
        advance_steps(states)
        grads = coupled_grads(params, grads, group["weight_decay"], group["maximize"])
        alpha, lr = group["alpha"], group["lr"]
        square_avgs = [s["square_avg"] for s in states]
        ema_of_squares_(square_avgs, grads, alpha)
        if group["centered"]:
            grad_avgs = [s["grad_avg"] for s in states]
            torch._foreach_lerp_(grad_avgs, grads, 1 - alpha)
        denominators = rms_denominators(group, states)
        if group["momentum"] > 0:
            buffers = [s["momentum_buffer"] for s in states]
            torch._foreach_mul_(buffers, group["momentum"])
            torch._foreach_addcdiv_(buffers, grads, denominators)
            add_scaled_(params, buffers, -lr)
        else:
            addcdiv_scaled_(params, grads, denominators, -lr)

    def effective_lr(self, param: Tensor) -> Tensor | None:
        """lr / (sqrt(G) + eps) elementwise (centered: lr / (sqrt(G - m * m) + eps)): the latest update
        was theta <- theta - effective_lr * g, or with momentum, the rate at which g entered the
        buffer's step. It rises wherever the gradients shrink, as G forgets the larger ones."""
        found = self._state_and_group(param)
        if found is None:
            return None
        state, group = found
        return group["lr"] / rms_denominators(group, [state])[0]


def rms_denominators(group: Group, states: list[State]) -> tuple[Tensor, ...]:
    """sqrt(G) + eps, or centered sqrt(G - m * m) + eps, from the states, as new tensors."""
    square_avgs = [s["square_avg"] for s in states]
    if group["centered"]:
        grad_avgs = [s["grad_avg"] for s in states]
        denominators = torch._foreach_addcmul(square_avgs, grad_avgs, grad_avgs, value=-1)
        torch._foreach_sqrt_(denominators)
    else:
        denominators = torch._foreach_sqrt(square_avgs)
    torch._foreach_add_(denominators, group["eps"])
    return denominators
