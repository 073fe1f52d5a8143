"""Adafactor (Shazeer & Stern 2018): Adam's second moment kept as row and column averages, a step
relative to the weights' scale, and the update clipped by its RMS."""

import math
from typing import Any

import torch
from torch import Tensor

from netopt.checks import require, require_length, require_nonnegative
from netopt.optim.base import (
    ForeachOptimizer,
    Group,
    State,
    Tensors,
    add_scaled_,
    coupled_grads,
    scalar_tensor,
    step_counts,
)


def mean_squares(grad: Tensor, dim: int) -> Tensor:
    """mean(g * g) along ``dim`` (kept), through the norm so that g * g is never materialized."""
    return torch.linalg.vector_norm(grad, dim=dim, keepdim=True).square_().div_(grad.size(dim))


def rms_values(tensors: Tensors) -> list[float]:
    """RMS(x) = ||x||_2 / sqrt(n) of each tensor, read back at once."""
    norms = torch.stack(torch._foreach_norm(tensors)).tolist()
    return [norm / math.sqrt(t.numel()) for norm, t in zip(norms, tensors, strict=True)]


class Adafactor(ForeachOptimizer):
    r"""Adafactor (``adafactor``, Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with
    Sublinear Memory Cost"), without momentum; drop-in for PyTorch's ``Adafactor``.

    At step t, with b2_t = 1 - t^c (c = ``beta2_decay``), eps = ``eps`` = (eps1, eps2) and
    rho_t = min(lr, 1 / sqrt(t))::

        alpha_t = max(eps2, RMS(theta)) * rho_t ;  theta <- (1 - lr * lambda) * theta
        R <- b2_t * R + (1 - b2_t) * mean_cols(g * g)     (matrices: one value per row,
        C <- b2_t * C + (1 - b2_t) * mean_rows(g * g)      one per column)
        V = R C / mean(R)           (vectors instead: V <- b2_t * V + (1 - b2_t) * g * g)
        U = g / sqrt(max(V, eps1^2)) ;  theta <- theta - alpha_t / max(1, RMS(U) / d) * U

    A matrix of n x m weights keeps n + m second-moment values instead of n * m (a tensor of more
    dimensions is factored over its last two); the step is relative to the weights' RMS and shrinks
    as 1 / sqrt(t) once that is below lr; the update is clipped to RMS d. eps1 None is the machine
    epsilon of the weights' dtype. State: ``step``, ``row_var`` (R) and ``col_var`` (C), or
    ``variance`` (V).
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        require_nonnegative(lr=lr, weight_decay=weight_decay)
        require(beta2_decay <= 0, "beta2_decay", "<= 0", beta2_decay)
        require_length("eps", eps, 2)
        if eps[0] is not None:
            require_nonnegative(**{"eps[0]": eps[0]})
        require_nonnegative(**{"eps[1]": eps[1]})
        require(d >= 1, "d", ">= 1", d)
        defaults = dict(
            lr=lr,
            beta2_decay=beta2_decay,
            eps=tuple(eps),
            d=d,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _init_state(self, group: Group, param: Tensor, state: State) -> None:
        state["step"] = scalar_tensor(0.0)
        if param.dim() > 1:
            state["row_var"] = param.new_zeros((*param.shape[:-1], 1))
            state["col_var"] = param.new_zeros((*param.shape[:-2], 1, param.shape[-1]))
        else:
            state["variance"] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def _update(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> None:
        steps = step_counts(states)
        grads = coupled_grads(params, grads, 0.0, group["maximize"])
        lr, weight_decay, d = group["lr"], group["weight_decay"], group["d"]
        eps1, eps2 = group["eps"]
        eps1 = torch.finfo(params[0].dtype).eps if eps1 is None else eps1
        new_weights = [t ** group["beta2_decay"] for t in steps]  # 1 - b2_t
        alphas = [max(eps2, rms) * min(lr, t**-0.5) for rms, t in zip(rms_values(params), steps, strict=True)]
        if weight_decay != 0:
            torch._foreach_mul_(params, 1 - lr * weight_decay)
        estimates = [
            self._variance(state, grad, w, eps1)
            for state, grad, w in zip(states, grads, new_weights, strict=True)
        ]
        torch._foreach_clamp_min_(estimates, eps1 * eps1)
        torch._foreach_rsqrt_(estimates)
        torch._foreach_mul_(estimates, grads)  # now U
        scales = [-a / max(1.0, rms / d) for a, rms in zip(alphas, rms_values(estimates), strict=True)]
        add_scaled_(params, estimates, scales)

    @staticmethod
    def _variance(state: State, grad: Tensor, new_weight: float, eps1: float) -> Tensor:
        """The second-moment estimate V after updating the state with g (a new tensor)."""
        if "variance" in state:
            state["variance"].lerp_(grad * grad, new_weight)
            return state["variance"].clone()
        row_var, col_var = state["row_var"], state["col_var"]
        row_var.lerp_(mean_squares(grad, -1), new_weight)
        col_var.lerp_(mean_squares(grad, -2), new_weight)
        return (row_var @ col_var).div_(row_var.mean(dim=-2, keepdim=True).clamp_(min=eps1))
