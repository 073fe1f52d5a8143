"""Prodigy (Mishchenko & Defazio 2024): Adam whose step size D is estimated on the fly from how far
the weights have moved along the gradients, with no learning rate to tune."""

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from netopt.checks import require, require_fraction, require_length, require_positive
from netopt.optim.base import (
    ForeachOptimizer,
    Group,
    State,
    Tensors,
    closure_loss,
    coupled_grads,
    scalar_tensor,
)


def dot_sum(first: Tensors, second: Tensors) -> Tensor:
    """sum_i <a_i, b_i> over two lists of tensors, as one 0-dim tensor."""
    return torch.stack([(a * b).sum() for a, b in zip(first, second, strict=True)]).sum()


class Prodigy(ForeachOptimizer):
    r"""Prodigy (``prodigy``, Mishchenko & Defazio 2024, "Prodigy: An Expeditiously Adaptive
    Parameter-Free Learner"): Adam with D-adaptation's step size estimate.

    With g = grad (+ lambda * theta unless ``decouple``), the estimate d of the distance to the
    solution (d0 at first), lr a multiplier on it (1: none), b3 = ``beta3`` (sqrt(b2) if None) and
    dlr = d * lr (times sqrt(1 - b2^k) / (1 - b1^k) with ``use_bias_correction``)::

        r <- b3 * r + (d / d0) * dlr * <g, theta_0 - theta>      (over all parameters)
        s <- b3 * s + (d / d0) * dlr * g                          (d for dlr with safeguard_warmup)
        m <- b1 * m + (1 - b1) * d * g ;  v <- b2 * v + (1 - b2) * d^2 * g * g
        d <- min(max(d, d_coef * r / ||s||_1), d * growth_rate)   (d never decreases)
        theta <- theta - dlr * m / (sqrt(v) + d * eps)            (after theta <- (1 - dlr * lambda) * theta
                                                                   if ``decouple``)

    One d for all param groups, kept in each (``d``, ``d_max``, ``d_numerator`` = r, ``k``), so the
    groups must share lr (or have lr 0). Not in torch.optim: its hyperparameters are the authors'
    ``prodigyopt``'s, without the sharding options. The update runs in two passes over all
    parameters (d between them) and is not compiled. State: ``step``, ``s``, ``p0`` (theta_0),
    ``exp_avg`` (m, if b1 > 0), ``exp_avg_sq`` (v).
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1.0,
        betas: tuple[float, float] = (0.9, 0.999),
        beta3: float | None = None,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decouple: bool = True,
        use_bias_correction: bool = False,
        safeguard_warmup: bool = False,
        d0: float = 1e-6,
        d_coef: float = 1.0,
        growth_rate: float = math.inf,
    ) -> None:
        require_positive(lr=lr, eps=eps, d0=d0, d_coef=d_coef)
        require_length("betas", betas, 2)
        require_fraction(**{"betas[0]": betas[0], "betas[1]": betas[1]})
        if beta3 is not None:
            require_fraction(beta3=beta3)
        require(weight_decay >= 0, "weight_decay", ">= 0", weight_decay)
        require(growth_rate >= 1, "growth_rate", ">= 1", growth_rate)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            beta3=beta3,
            eps=eps,
            weight_decay=weight_decay,
            d=d0,
            d0=d0,
            d_max=d0,
            d_numerator=0.0,
            d_coef=d_coef,
            k=0,
            growth_rate=growth_rate,
            use_bias_correction=use_bias_correction,
            decouple=decouple,
            safeguard_warmup=safeguard_warmup,
        )
        super().__init__(params, defaults)

    def _init_state(self, group: Group, param: Tensor, state: State) -> None:
        state["step"] = scalar_tensor(0.0)
        state["s"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["p0"] = param.detach().clone()
        if group["betas"][0] > 0:
            state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Accumulate r and s and the moments, update d, then step every parameter."""
        loss = closure_loss(closure)
        first = self.param_groups[0]
        (beta1, beta2), k, d = first["betas"], first["k"], first["d"]
        beta3 = math.sqrt(beta2) if first["beta3"] is None else first["beta3"]
        lr = max(group["lr"] for group in self.param_groups)
        if first["use_bias_correction"]:
            dlr = d * lr * math.sqrt(1 - beta2 ** (k + 1)) / (1 - beta1 ** (k + 1))
        else:
            dlr = d * lr
        batches = []
        delta, denominator = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.float64)
        for group in self.param_groups:
            if group["lr"] not in (lr, 0.0):
                raise RuntimeError("Prodigy: every param group needs the same lr (or lr 0)")
            for params, raw_grads, states, _ in self._batches(group):
                decay = 0.0 if group["decouple"] else group["weight_decay"]
                grads = coupled_grads(params, raw_grads, decay, False)
                batches.append((group, params, grads, states))
                if group["lr"] == 0:
                    continue
                scale = d / group["d0"]
                delta += scale * dlr * dot_sum(torch._foreach_sub([s["p0"] for s in states], params), grads)
                if beta1 > 0:
                    exp_avgs = [s["exp_avg"] for s in states]
                    torch._foreach_mul_(exp_avgs, beta1)
                    torch._foreach_add_(exp_avgs, grads, alpha=d * (1 - beta1))
                exp_avg_sqs = [s["exp_avg_sq"] for s in states]
                torch._foreach_mul_(exp_avg_sqs, beta2)
                torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=d * d * (1 - beta2))
                sums = [s["s"] for s in states]
                torch._foreach_mul_(sums, beta3)
                torch._foreach_add_(sums, grads, alpha=scale * (d if group["safeguard_warmup"] else dlr))
                denominator += torch.stack(torch._foreach_norm(sums, 1)).sum().double()
        if denominator.item() == 0:  # no gradient yet: nothing to estimate d from
            return loss
        numerator = first["d_numerator"] * beta3 + delta.item()
        d_hat = first["d_coef"] * numerator / denominator.item()
        d_max = max(first["d_max"], d_hat)
        d = min(d_max, (max(d, d_hat) if d == first["d0"] else d) * first["growth_rate"])
        for group in self.param_groups:
            group.update(d_numerator=numerator, d_denom=denominator.item(), d=d, d_max=d_max, d_hat=d_hat)
            group["k"] += 1
        for group, params, grads, states in batches:
            self._step(group, params, grads, states, dlr)
        return loss

    @staticmethod
    def _step(group: Group, params: list[Tensor], grads: Tensors, states: list[State], dlr: float) -> None:
        """theta <- theta - dlr * m / (sqrt(v) + d * eps), after the decoupled decay."""
        for state in states:
            state["step"] += 1
        denominators = torch._foreach_sqrt([s["exp_avg_sq"] for s in states])
        torch._foreach_add_(denominators, group["d"] * group["eps"])
        if group["decouple"] and group["weight_decay"] != 0:
            torch._foreach_mul_(params, 1 - group["weight_decay"] * dlr)
        if group["betas"][0] > 0:
            torch._foreach_addcdiv_(params, [s["exp_avg"] for s in states], denominators, value=-dlr)
        else:
            torch._foreach_addcdiv_(params, grads, denominators, value=-dlr * group["d"])
