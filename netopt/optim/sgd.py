"""Stochastic gradient descent, with momentum (Polyak 1964) and Nesterov momentum (Sutskever et al.
2013)."""

from typing import Any

import torch
from torch import Tensor

from netopt.checks import require, require_fraction, require_nonnegative, require_probability
from netopt.optim.base import ForeachOptimizer, Group, State, Tensors, add_scaled_, coupled_grads


def momentum_buffers(states: list[State], grads: Tensors, momentum: float, dampening: float) -> list[Tensor]:
    """v <- mu * v + (1 - dampening) * g in place, with v_1 = g on a parameter's first step (torch's
    convention: no dampening on the first step). Returns the buffers."""
    if all(s.get("momentum_buffer") is not None for s in states):
        buffers = [s["momentum_buffer"] for s in states]
        torch._foreach_mul_(buffers, momentum)
        torch._foreach_add_(buffers, grads, alpha=1 - dampening)
        return buffers
    for state, grad in zip(states, grads, strict=True):
        buffer = state.get("momentum_buffer")
        if buffer is None:
            state["momentum_buffer"] = grad.detach().clone()
        else:
            buffer.mul_(momentum).add_(grad, alpha=1 - dampening)
    return [s["momentum_buffer"] for s in states]


class SGD(ForeachOptimizer):
    r"""Stochastic gradient descent (``sgd``), heavy-ball momentum (``momentum``, Polyak 1964, "Some
    methods of speeding up the convergence of iteration methods") and Nesterov momentum
    (``nesterov``, in the form of Sutskever et al. 2013, "On the importance of initialization and
    momentum in deep learning"); drop-in for PyTorch's ``SGD``.

    With g = grad + lambda * theta (coupled weight decay = L2 regularization)::

        sgd:       theta <- theta - alpha * g
        momentum:  v <- mu * v + (1 - dampening) * g ;  theta <- theta - alpha * v
        nesterov:  v <- mu * v + g ;                    theta <- theta - alpha * (g + mu * v)

    Qiu Xipeng, Neural Networks and Deep Learning, ch. 7, writes momentum as
    dtheta <- rho * dtheta - alpha * g ; theta <- theta + dtheta, which is the same trajectory while
    alpha is constant (here alpha multiplies the whole buffer, so a changed lr acts at once).
    ``maximize`` ascends instead. State: ``momentum_buffer``.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        require_nonnegative(lr=lr, weight_decay=weight_decay)
        require_fraction(momentum=momentum)
        require_probability(dampening=dampening)
        nesterov_ok = not nesterov or (momentum > 0 and dampening == 0)
        require(nesterov_ok, "nesterov", "used with momentum > 0 and dampening = 0", nesterov)
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
            foreach=foreach,
        )
        super().__init__(params, defaults)

    def _update(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> None:
        descent = coupled_grads(params, grads, group["weight_decay"], group["maximize"])
        momentum = group["momentum"]
        if momentum != 0:
            buffers = momentum_buffers(states, descent, momentum, group["dampening"])
            if not group["nesterov"]:
                descent = buffers
            elif descent is grads:  # still the parameters' .grad tensors: leave them alone
                descent = torch._foreach_add(descent, buffers, alpha=momentum)
            else:
                torch._foreach_add_(descent, buffers, alpha=momentum)
        add_scaled_(params, descent, -group["lr"])
