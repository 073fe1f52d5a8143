"""Averaged SGD (Polyak & Juditsky 1992): SGD with a decaying step whose iterates are averaged."""

from typing import Any

import torch
from torch import Tensor

from netopt.checks import require_nonnegative
from netopt.optim.base import (
    ForeachOptimizer,
    Group,
    State,
    Tensors,
    add_scaled_,
    advance_steps,
    coupled_grads,
    scalar_tensor,
    scalar_values,
)


class ASGD(ForeachOptimizer):
    r"""Averaged stochastic gradient descent (``asgd``, Polyak & Juditsky 1992, "Acceleration of
    Stochastic Approximation by Averaging"); drop-in for PyTorch's ``ASGD``.

    With g = grad + lambda * theta (coupled decay), the step size eta_t and the averaging weight
    mu_t of step t (eta_1 = lr, mu_1 = 1)::

        theta <- (1 - lambd * eta_t) * theta - eta_t * g
        ax <- ax + mu_t * (theta - ax)
        eta_{t+1} = lr / (1 + lambd * lr * t)^alpha ;  mu_{t+1} = 1 / max(1, t - t0)

    so ax is the running average of the iterates from step t0 on (before it, the iterate itself).
    The averaged weights ``ax`` are kept in the state, not swapped into the model. State: ``step``,
    ``eta``, ``mu``, ``ax``.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0.0,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        require_nonnegative(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay)
        defaults = dict(
            lr=lr,
            lambd=lambd,
            alpha=alpha,
            t0=t0,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Loading keeps ``eta`` and ``mu`` in the step counter's dtype (torch's casts them to the
        weights'), so a resumed run steps exactly as one that never stopped."""
        super().__setstate__(state)
        for param_state in self.state.values():
            for key in ("eta", "mu"):
                if key in param_state:
                    param_state[key] = scalar_tensor(float(param_state[key]))

    def _init_state(self, group: Group, param: Tensor, state: State) -> None:
        state["step"] = scalar_tensor(0.0)
        state["eta"] = scalar_tensor(group["lr"])
        state["mu"] = scalar_tensor(1.0)
        state["ax"] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def _update(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> None:
        steps = advance_steps(states)
        grads = coupled_grads(params, grads, group["weight_decay"], group["maximize"])
        lr, lambd, alpha, t0 = group["lr"], group["lambd"], group["alpha"], group["t0"]
        etas = scalar_values([s["eta"] for s in states])
        torch._foreach_mul_(params, [1 - lambd * eta for eta in etas])
        add_scaled_(params, grads, [-eta for eta in etas])
        axes = [s["ax"] for s in states]
        torch._foreach_lerp_(axes, params, scalar_values([s["mu"] for s in states]))  # type: ignore[arg-type]
        for state, t in zip(states, scalar_values(steps), strict=True):
            state["eta"].fill_(lr / (1 + lambd * lr * t) ** alpha)
            state["mu"].fill_(1 / max(1.0, t - t0))
