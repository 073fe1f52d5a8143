"""LARS (You, Gitman & Ginsburg 2017): SGD with momentum and a layer-wise trust ratio, the answer of
large-batch training to the limits of the linear scaling rule (Qiu Xipeng, Neural Networks and Deep
Learning, ch. 7)."""

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from netopt.checks import require_fraction, require_nonnegative, require_positive
from netopt.optim.base import ForeachOptimizer, Group, State, Tensors, coupled_grads
from netopt.optim.sgd import momentum_buffers


def adapted(group: Group, params: list[Tensor]) -> list[bool]:
    """Whether each parameter takes the trust ratio and weight decay: all of them, or with the group's
    ``exclude_1d`` only those of two or more dimensions (not biases and norm gains)."""
    return [not group["exclude_1d"] or p.ndim > 1 for p in params]


def decayed(params: list[Tensor], directions: Tensors, weight_decay: float, adapt: list[bool]) -> Tensors:
    """d + lambda * theta for each adapted parameter, d for the others (new tensors unless lambda = 0)."""
    if weight_decay == 0:
        return directions
    return torch._foreach_add(directions, torch._foreach_mul(params, [weight_decay * a for a in adapt]))


def trust_ratios(numerators: Sequence[Tensor], denominators: Sequence[Tensor], adapt: list[bool]) -> Tensor:
    """n / d for each adapted parameter, 1 for the others and where n or d is 0 (a parameter at zero
    would otherwise never move), as one tensor on the device of the norms n and d."""
    n, d = torch.stack(list(numerators)), torch.stack(list(denominators))
    mask = torch.tensor(adapt, device=n.device) & (n > 0) & (d > 0)
    return torch.where(mask, n / torch.where(mask, d, 1.0), 1.0)


class LARS(ForeachOptimizer):
    r"""LARS (``lars``, You, Gitman & Ginsburg 2017, "Large Batch Training of Convolutional Networks"),
    Algorithm 1: SGD with momentum whose learning rate each layer (each parameter tensor) scales by
    its trust ratio, so every layer moves by about the same fraction of its weights' norm.

    With global lr gamma_t, trust coefficient eta and weight decay beta::

        local_lr = eta * ||w|| / (||g|| + beta * ||w||)
        v <- m * v + gamma_t * local_lr * (g + beta * w) ;  w <- w - v

    local_lr is 1 where ||w|| or the denominator is 0. ``exclude_1d`` (default, per param group)
    leaves out the tensors of fewer than two dimensions (biases, norm gains), as is usual: local_lr = 1
    and no weight decay for them. As in the paper, lr is inside the momentum buffer (torch's SGD keeps
    it out). Not in torch.optim: tested against the paper's algorithm. State: ``momentum_buffer`` (v).
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        trust_coefficient: float = 0.001,
        *,
        exclude_1d: bool = True,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        require_nonnegative(lr=lr, weight_decay=weight_decay)
        require_positive(trust_coefficient=trust_coefficient)
        require_fraction(momentum=momentum)
        defaults = dict(
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            trust_coefficient=trust_coefficient,
            exclude_1d=exclude_1d,
            maximize=maximize,
            foreach=foreach,
        )
        super().__init__(params, defaults)

    def _update(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> None:
        grads = coupled_grads(params, grads, 0.0, group["maximize"])
        adapt, weight_decay = adapted(group, params), group["weight_decay"]
        weight_norms = torch._foreach_norm(params)
        grad_norms = torch._foreach_norm(grads)
        denominators = grad_norms
        if weight_decay != 0:
            denominators = torch._foreach_add(grad_norms, torch._foreach_mul(weight_norms, weight_decay))
        local_lrs = trust_ratios(
            torch._foreach_mul(weight_norms, group["trust_coefficient"]), denominators, adapt
        )
        steps: Tensors = torch._foreach_mul(
            decayed(params, grads, weight_decay, adapt), (group["lr"] * local_lrs).unbind()
        )
        if group["momentum"] != 0:
            steps = momentum_buffers(states, steps, group["momentum"], 0.0)
        torch._foreach_sub_(params, steps)
