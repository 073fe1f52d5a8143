"""Schedule-Free SGD and AdamW (Defazio et al. 2024, "The Road Less Scheduled"): no learning-rate
schedule, the weights that are evaluated being an online average of the iterates instead."""

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from netopt.checks import require, require_count, require_nonnegative
from netopt.optim.adam import check_adam_hyperparameters
from netopt.optim.base import (
    ForeachOptimizer,
    Group,
    State,
    Tensors,
    closure_loss,
    coupled_grads,
    ema_of_squares_,
)


class ScheduleFree(ForeachOptimizer):
    r"""The Schedule-Free method around a base step direction d(g) (:meth:`_direction`). Three
    sequences: z the base method's iterates, x their weighted average (the weights to evaluate), y
    the point where the gradient is taken, an interpolation of the two::

        y_t = (1 - beta) * z_t + beta * x_t
        z_{t+1} = z_t - gamma_t * d(grad f(y_t))
        x_{t+1} = (1 - c_{t+1}) * x_t + c_{t+1} * z_{t+1},   c_{t+1} = w_t / (w_1 + ... + w_t)

    with gamma_t = lr * min(1, t / warmup_steps) (the built-in linear warm-up: no schedule is
    needed) and w_t = t^r * max(gamma_1..gamma_t)^weight_lr_power, so the steps of the warm-up weigh
    less in the average. beta is the momentum; x is the average of every z (Polyak averaging) and z
    plain SGD (AdamW's step) when beta = 0.

    Only y and z are kept: the parameters hold y while training and x after :meth:`eval`
    (x = (y - (1 - beta) * z) / beta, y back with :meth:`train`), and substituting x into the
    recursions gives the step on y::

        y <- (1 - c) * y + c * z + gamma * (beta * (1 - c) - 1) * d ;  z <- z - gamma * d

    Call :meth:`eval` before evaluating or saving and :meth:`train` before training on (a step in
    eval mode is refused); a new optimizer is in train mode (the package's starts in eval mode, with
    no z yet the same weights); a model with batch normalization then needs its statistics recomputed
    for x. State as the ``schedulefree`` package: ``z`` per parameter; in the group ``k`` (steps
    taken), ``train_mode``, ``weight_sum``, ``lr_max``, ``scheduled_lr`` (gamma_t). The update runs
    eagerly (:func:`netopt.optim.compile_update` leaves it so).
    """

    def __init__(
        self,
        params: Any,
        lr: float,
        weight_decay: float,
        warmup_steps: int,
        r: float,
        weight_lr_power: float,
        **defaults: Any,
    ) -> None:
        require_nonnegative(lr=lr, weight_decay=weight_decay, r=r, weight_lr_power=weight_lr_power)
        require_count(0, warmup_steps=warmup_steps)
        bookkeeping = dict(k=0, train_mode=True, weight_sum=0.0, lr_max=-1.0, scheduled_lr=0.0)
        settings = dict(lr=lr, weight_decay=weight_decay, warmup_steps=warmup_steps, r=r)
        super().__init__(params, {**settings, **defaults, **bookkeeping, "weight_lr_power": weight_lr_power})

    def _beta(self, group: Group) -> float:
        """beta, the interpolation between z and x that gives y."""
        raise NotImplementedError

    def _direction(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> Tensors:
        """d(g), the base method's step direction per unit of lr, weight decay included."""
        raise NotImplementedError

    def _init_state(self, group: Group, param: Tensor, state: State) -> None:
        state["z"] = torch.clone(param, memory_format=torch.preserve_format).detach()

    @torch.no_grad()
    def _interpolate(self, train_mode: bool, weight: Callable[[float], float]) -> None:
        """p <- p + w * (z - p) in every group not yet in ``train_mode``, w = ``weight(beta)``."""
        for group in self.param_groups:
            if group["train_mode"] == train_mode:
                continue
            params = [p for p in group["params"] if "z" in self.state[p]]
            if params:
                z = [self.state[p]["z"] for p in params]
                torch._foreach_lerp_(params, z, weight(self._beta(group)))
            group["train_mode"] = train_mode

    def eval(self) -> None:
        """The parameters to x = y + (1 - 1 / beta) * (z - y), the weights to evaluate (and save)."""
        self._interpolate(False, lambda beta: 1 - 1 / beta)

    def train(self) -> None:
        """The parameters back to y = x + (1 - beta) * (z - x), where gradients are taken."""
        self._interpolate(True, lambda beta: 1 - beta)

    def _advance(self, group: Group) -> tuple[float, float]:
        """t <- t + 1 for ``group``; (gamma_t, c_{t+1}) of this step."""
        k, warmup = group["k"], group["warmup_steps"]
        lr = group["scheduled_lr"] = group["lr"] * ((k + 1) / warmup if k < warmup else 1.0)
        lr_max = group["lr_max"] = max(lr, group["lr_max"])
        weight = (k + 1) ** group["r"] * lr_max ** group["weight_lr_power"]
        weight_sum = group["weight_sum"] = group["weight_sum"] + weight
        group["k"] = k + 1
        return lr, weight / weight_sum if weight_sum else 0.0

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One step on y and z of every parameter that has a gradient (in train mode only)."""
        if not self.param_groups[0]["train_mode"]:
            raise RuntimeError(f"{type(self).__name__}: call train() before stepping (it is in eval mode)")
        loss = closure_loss(closure)
        for group in self.param_groups:
            lr, c = self._advance(group)
            beta = self._beta(group)
            for params, grads, states, _ in self._batches(group):
                direction = self._direction(group, params, grads, states)
                z = [s["z"] for s in states]
                torch._foreach_lerp_(params, z, c)
                torch._foreach_add_(params, direction, alpha=lr * (beta * (1 - c) - 1))
                torch._foreach_add_(z, direction, alpha=-lr)
        return loss


class SGDScheduleFree(ScheduleFree):
    r"""Schedule-Free SGD (``schedule_free_sgd``, Defazio et al. 2024, "The Road Less Scheduled"):
    :class:`ScheduleFree` with d = g + lambda * y (coupled weight decay, taken at y) and
    beta = ``momentum``; drop-in for ``schedulefree.SGDScheduleFree``, with its defaults (lr 1)."""

    def __init__(
        self,
        params: Any,
        lr: float = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
        foreach: bool | None = None,
    ) -> None:
        require(0 < momentum < 1, "momentum", "in (0, 1)", momentum)
        super().__init__(
            params, lr, weight_decay, warmup_steps, r, weight_lr_power, momentum=momentum, foreach=foreach
        )

    def _beta(self, group: Group) -> float:
        return group["momentum"]

    def _direction(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> Tensors:
        return coupled_grads(params, grads, group["weight_decay"], maximize=False)


class AdamWScheduleFree(ScheduleFree):
    r"""Schedule-Free AdamW (``schedule_free_adamw``, Defazio et al. 2024, "The Road Less Scheduled",
    the self-tuning winner of AlgoPerf 2024): :class:`ScheduleFree` with beta = ``betas[0]`` and
    Adam's normalized gradient plus the weight decay taken at y::

        v <- b2 * v + (1 - b2) * g * g ;  d = g / (sqrt(v / (1 - b2^t)) + eps) + lambda * y

    (no first moment: the interpolation y plays momentum's part). Drop-in for
    ``schedulefree.AdamWScheduleFree``, with its defaults (lr 0.0025); state ``z``, ``exp_avg_sq``.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 0.0025,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
        foreach: bool | None = None,
    ) -> None:
        check_adam_hyperparameters(lr, betas, eps, weight_decay)
        require(betas[0] > 0, "betas[0]", "in (0, 1)", betas[0])
        super().__init__(
            params,
            lr,
            weight_decay,
            warmup_steps,
            r,
            weight_lr_power,
            betas=tuple(betas),
            eps=eps,
            foreach=foreach,
        )

    def _beta(self, group: Group) -> float:
        return group["betas"][0]

    def _init_state(self, group: Group, param: Tensor, state: State) -> None:
        super()._init_state(group, param, state)
        state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def _direction(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> Tensors:
        beta2, t = group["betas"][1], group["k"]  # k already counts this step
        exp_avg_sqs = [s["exp_avg_sq"] for s in states]
        ema_of_squares_(exp_avg_sqs, grads, beta2)
        denominators = torch._foreach_div(exp_avg_sqs, 1 - beta2**t)
        torch._foreach_sqrt_(denominators)
        torch._foreach_add_(denominators, group["eps"])
        direction = torch._foreach_div(grads, denominators)
        if group["weight_decay"] != 0:
            torch._foreach_add_(direction, params, alpha=group["weight_decay"])
        return direction
