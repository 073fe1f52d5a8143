"""LAMB (You et al. 2020): Adam's bias-corrected moments with LARS's layer-wise trust ratio."""

import math
from typing import Any

import torch
from torch import Tensor

from netopt.checks import require, require_length
from netopt.optim.adam import adam_denominators, check_adam_hyperparameters, init_moments, update_moments
from netopt.optim.base import (
    ForeachOptimizer,
    Group,
    State,
    Tensors,
    add_scaled_,
    coupled_grads,
    per_tensor,
    step_counts,
)
from netopt.optim.lars import adapted, decayed, trust_ratios


class LAMB(ForeachOptimizer):
    r"""LAMB (``lamb``, You et al. 2020, "Large Batch Optimization for Deep Learning: Training BERT in
    76 minutes"), Algorithm 2: the Adam direction with decoupled weight decay, scaled per layer
    (per parameter tensor) by the trust ratio phi(||w||) / ||u||.

    With weight decay lambda and phi(z) = min(max(z, lo), hi), (lo, hi) = ``norm_bounds``::

        m <- b1 * m + (1 - b1) * g ;  v <- b2 * v + (1 - b2) * g * g
        u = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + lambda * w
        w <- w - lr * phi(||w||) / ||u|| * u

    The ratio is 1 where phi(||w||) or ||u|| is 0. ``norm_bounds`` (0, 10) clamps ||w|| as the
    common PyTorch implementation does; (0, inf) (``optimizer.norm_bounds=[0,inf]``) is the plain
    ratio. ``exclude_1d`` (default, per param group) leaves out the tensors of fewer than two
    dimensions (biases, norm gains), as is usual: no ratio and no weight decay for them, an Adam step.
    Not in torch.optim: tested against the paper's algorithm. State: ``step``, ``exp_avg`` (m),
    ``exp_avg_sq`` (v), as Adam's.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.01,
        norm_bounds: tuple[float, float] = (0.0, 10.0),
        *,
        exclude_1d: bool = True,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        check_adam_hyperparameters(lr, betas, eps, weight_decay)
        require_length("norm_bounds", norm_bounds, 2)
        low, high = norm_bounds
        require(
            0 <= low <= high and not math.isnan(high),
            "norm_bounds",
            "[low, high] with 0 <= low <= high",
            list(norm_bounds),
        )
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            norm_bounds=(float(low), float(high)),
            exclude_1d=exclude_1d,
            maximize=maximize,
            foreach=foreach,
        )
        super().__init__(params, defaults)

    def _init_state(self, group: Group, param: Tensor, state: State) -> None:
        init_moments(param, state)

    def _update(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> None:
        steps = step_counts(states)
        grads = coupled_grads(params, grads, 0.0, group["maximize"])
        exp_avgs, exp_avg_sqs = update_moments(group, grads, states)
        beta1, beta2 = group["betas"]
        directions = torch._foreach_div(exp_avgs, adam_denominators(exp_avg_sqs, beta2, steps, group["eps"]))
        torch._foreach_div_(directions, per_tensor([1 - beta1**t for t in steps], params[0]))  # type: ignore[arg-type]
        adapt = adapted(group, params)
        updates = decayed(params, directions, group["weight_decay"], adapt)
        low, high = group["norm_bounds"]
        weight_norms = torch._foreach_clamp_max(
            torch._foreach_clamp_min(torch._foreach_norm(params), low), high
        )
        trust = trust_ratios(weight_norms, torch._foreach_norm(updates), adapt)
        add_scaled_(params, updates, (-group["lr"] * trust).unbind())
