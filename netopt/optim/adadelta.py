"""AdaDelta (Zeiler 2012): RMSprop whose step size is a moving average of past squared updates."""

from typing import Any

import torch
from torch import Tensor

from netopt.checks import require_nonnegative, require_probability
from netopt.optim.base import (
    ForeachOptimizer,
    Group,
    State,
    Tensors,
    add_scaled_,
    advance_steps,
    coupled_grads,
    ema_of_squares_,
    scalar_tensor,
)


class Adadelta(ForeachOptimizer):
    r"""AdaDelta (``adadelta``, Zeiler 2012, "ADADELTA: An Adaptive Learning Rate Method"); drop-in for
    PyTorch's ``Adadelta``.

    With g = grad + lambda * theta and r = ``rho`` (the beta of Qiu Xipeng, Neural Networks and Deep
    Learning, ch. 7)::

        G <- r * G + (1 - r) * g * g
        d <- sqrt(X + eps) / sqrt(G + eps) * g
        X <- r * X + (1 - r) * d * d ;  theta <- theta - lr * d

    The book has no ``lr`` (lr = 1, torch's default) and writes X from the previous step,
    the same thing. State: ``step``, ``square_avg`` (= G), ``acc_delta`` (= X).
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
    ) -> None:
        require_nonnegative(lr=lr, eps=eps, weight_decay=weight_decay)
        require_probability(rho=rho)
        defaults = dict(
            lr=lr,
            rho=rho,
            eps=eps,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _init_state(self, group: Group, param: Tensor, state: State) -> None:
        state["step"] = scalar_tensor(0.0)
        state["square_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["acc_delta"] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def _update(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> None:
        advance_steps(states)
        grads = coupled_grads(params, grads, group["weight_decay"], group["maximize"])
        rho, eps = group["rho"], group["eps"]
        square_avgs = [s["square_avg"] for s in states]
        acc_deltas = [s["acc_delta"] for s in states]
        ema_of_squares_(square_avgs, grads, rho)
        denominators = torch._foreach_add(square_avgs, eps)
        torch._foreach_sqrt_(denominators)
        deltas = torch._foreach_add(acc_deltas, eps)
        torch._foreach_sqrt_(deltas)
        torch._foreach_div_(deltas, denominators)
        torch._foreach_mul_(deltas, grads)
        ema_of_squares_(acc_deltas, deltas, rho)
        add_scaled_(params, deltas, -group["lr"])

    def effective_lr(self, param: Tensor) -> Tensor | None:
        """lr * sqrt(X + eps) / sqrt(G + eps) elementwise, from the accumulators after the latest
        update: the rate the next update applies to its g, before that update adds g * g to G (the
        latest update used X from before it)."""
        found = self._state_and_group(param)
        if found is None:
            return None
        state, group = found
        eps = group["eps"]
        return group["lr"] * (state["acc_delta"] + eps).sqrt() / (state["square_avg"] + eps).sqrt()
