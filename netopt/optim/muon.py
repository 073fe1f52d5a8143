"""Muon (Jordan et al. 2024): momentum whose update of each weight matrix is orthogonalized by a
Newton-Schulz iteration (beyond Qiu Xipeng, Neural Networks and Deep Learning, ch. 7)."""

import math
from typing import Any, ClassVar

import torch
from torch import Tensor

from netopt.checks import (
    require,
    require_choice,
    require_count,
    require_fraction,
    require_length,
    require_nonnegative,
)
from netopt.optim.base import ForeachOptimizer, Group, State, Tensors, add_scaled_

#: The quintic's coefficients (a, b, c) of Jordan's Muon, chosen for the steepest slope at zero.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
#: The shape scalings of the learning rate ``adjust_lr_fn`` may name (None: ``original``).
ADJUST_LR_FNS = ("original", "match_rms_adamw", "spectral_unclamped")


def newton_schulz(
    matrices: Tensor, coefficients: tuple[float, float, float], steps: int, eps: float
) -> Tensor:
    """The orthogonalization of each matrix of a stack (k, m, n): X <- G / max(||G||_F, eps), then
    ``steps`` times X <- a * X + (b * A + c * A @ A) @ X with A = X @ X^T, on the wide orientation
    (X^T when m > n). It maps G = U S V^T to about U S' V^T with S' near 1 (the default coefficients
    trade exactness for speed: S' spreads over roughly 0.5 to 1.5), in the dtype of ``matrices``."""
    a, b, c = coefficients
    tall = matrices.size(-2) > matrices.size(-1)
    x = matrices.mT if tall else matrices
    x = x / torch.linalg.matrix_norm(x).clamp(min=eps)[..., None, None]
    for _ in range(steps):
        gram = x @ x.mT
        x = torch.baddbmm(x, torch.baddbmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.mT if tall else x


def as_matrix(tensor: Tensor) -> Tensor:
    """``tensor`` as a matrix: its first dimension by all the others (a conv kernel's out channels by
    in channels x kernel height x kernel width)."""
    return tensor.reshape(tensor.size(0), -1)


def shape_scale(adjust_lr_fn: str | None, shape: torch.Size) -> float:
    """The factor on lr for a matrix of A rows (fan-out) and B columns (fan-in): sqrt(max(1, A / B))
    (``original``, Jordan's), 0.2 * sqrt(max(A, B)) (``match_rms_adamw``, Liu et al. 2025, "Muon is
    Scalable for LLM Training": the update's RMS matches AdamW's) or sqrt(A / B)
    (``spectral_unclamped``, Bernstein's "Deriving Muon")."""
    rows, cols = shape[0], math.prod(shape[1:])
    if adjust_lr_fn == "match_rms_adamw":
        return 0.2 * math.sqrt(max(rows, cols))
    if adjust_lr_fn == "spectral_unclamped":
        return math.sqrt(rows / cols)
    return math.sqrt(max(1.0, rows / cols))


def orthogonalized(updates: Tensors, group: Group, dtype: torch.dtype | None) -> list[Tensor]:
    """:func:`newton_schulz` of each update as a matrix, computed in ``dtype`` (None: the update's),
    returned in the update's dtype and shape; matrices of one shape go through it as one stack."""
    by_shape: dict[torch.Size, list[int]] = {}
    for i, update in enumerate(updates):
        by_shape.setdefault(as_matrix(update).shape, []).append(i)
    results: list[Tensor] = list(updates)
    for indices in by_shape.values():
        stack = torch.stack([as_matrix(updates[i]) for i in indices]).to(dtype or updates[indices[0]].dtype)
        stack = newton_schulz(stack, group["ns_coefficients"], group["ns_steps"], group["eps"])
        for i, matrix in zip(indices, stack.unbind(), strict=True):
            results[i] = matrix.view_as(updates[i]).to(updates[i].dtype)
    return results


class Muon(ForeachOptimizer):
    r"""Muon (``muon``, Jordan et al. 2024, "Muon: An optimizer for hidden layers in neural networks");
    drop-in for PyTorch's ``Muon``.

    For each weight matrix, with momentum mu and decoupled weight decay lambda::

        B <- mu * B + (1 - mu) * g ;  U = (1 - mu) * g + mu * B  (nesterov)  or  U = B
        O = NS(U)                          (Newton-Schulz: U = U S V^T -> about U V^T)
        theta <- (1 - lr * lambda) * theta - lr * s(A, B) * O

    where s is the shape scaling of ``adjust_lr_fn`` (:func:`shape_scale`). Orthogonalizing gives
    every direction of the update the same size, so the rare directions the gradient barely
    excites move as fast as the dominant ones. For the weight matrices of hidden layers only: biases,
    gains, embeddings and the output layer belong to AdamW (``optimizer=muon`` splits them so, see
    :class:`netopt.optim.Split`). Beyond torch, a tensor of more dimensions (a conv kernel) is
    orthogonalized as the matrix of its first dimension by the others (Jordan's choice for CIFAR-10);
    a 2-D one is torch's case exactly. The iteration runs in ``newton_schulz_dtype`` (bfloat16 as
    in torch; None: the parameters' dtype), and matrices of one shape run as one batch. State:
    ``momentum_buffer`` (B).
    """

    #: The dtype of the Newton-Schulz iteration (None: the parameters' own).
    newton_schulz_dtype: ClassVar[torch.dtype | None] = torch.bfloat16

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
        eps: float = 1e-7,
        ns_steps: int = 5,
        adjust_lr_fn: str | None = None,
    ) -> None:
        require_nonnegative(lr=lr, weight_decay=weight_decay, eps=eps)
        require_fraction(momentum=momentum)
        require_length("ns_coefficients", ns_coefficients, 3)
        require_count(ns_steps=ns_steps)
        require(ns_steps < 100, "ns_steps", "below 100", ns_steps)
        if adjust_lr_fn is not None:
            require_choice("adjust_lr_fn", adjust_lr_fn, ADJUST_LR_FNS)
        defaults = dict(
            lr=lr,
            weight_decay=weight_decay,
            momentum=momentum,
            nesterov=nesterov,
            ns_coefficients=tuple(ns_coefficients),
            eps=eps,
            ns_steps=ns_steps,
            adjust_lr_fn=adjust_lr_fn,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                allowed = "weight matrices (2-D, or more dimensions seen as a matrix): not biases or gains"
                require(p.ndim >= 2, "params", allowed, f"a tensor of shape {tuple(p.shape)}")

    def _init_state(self, group: Group, param: Tensor, state: State) -> None:
        state["momentum_buffer"] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def _update(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> None:
        momentum, lr, weight_decay = group["momentum"], group["lr"], group["weight_decay"]
        buffers = [s["momentum_buffer"] for s in states]
        torch._foreach_lerp_(buffers, grads, 1 - momentum)
        updates = torch._foreach_lerp(grads, buffers, momentum) if group["nesterov"] else buffers
        directions = orthogonalized(updates, group, self.newton_schulz_dtype)
        if weight_decay != 0:
            torch._foreach_mul_(params, 1 - lr * weight_decay)
        add_scaled_(params, directions, [-lr * shape_scale(group["adjust_lr_fn"], p.shape) for p in params])
