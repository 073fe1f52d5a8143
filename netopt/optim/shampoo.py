"""Shampoo (Gupta, Koren & Singer 2018): a Kronecker-factored full-matrix AdaGrad, one preconditioner
per side of each weight matrix, grafted onto the norm of a diagonal method's step."""

from typing import Any

import torch
from torch import Tensor

from netopt.checks import (
    require,
    require_choice,
    require_count,
    require_fraction,
    require_length,
    require_nonnegative,
    require_positive,
    require_probability,
)
from netopt.optim.adam import adam_denominators
from netopt.optim.base import (
    ForeachOptimizer,
    Group,
    State,
    Tensors,
    add_scaled_,
    coupled_grads,
    ema_of_squares_,
    per_tensor,
    scalar_tensor,
    step_counts,
)
from netopt.optim.muon import as_matrix

#: Whose step's norm each tensor's Shampoo direction takes (``none``: the direction as it is).
GRAFTINGS = ("adam", "adagrad", "sgd", "none")


def gram(matrix: Tensor, dim: int) -> Tensor:
    """The statistic of side ``dim``: G G^T (``dim`` 0) or G^T G (``dim`` 1); g g^T of a vector."""
    sides = matrix.movedim(dim, 0).reshape(matrix.size(dim), -1)
    return sides @ sides.T


def inverse_root(factor: Tensor, scale: float, root: int, eps: float) -> Tensor:
    """(F / scale + eps * I)^(-1/root) through a symmetric eigendecomposition in float64 (the
    eigenvalues clamped at eps against rounding), returned in the dtype of F."""
    matrix = factor.to(torch.float64) / scale
    matrix.diagonal().add_(eps)
    values, vectors = torch.linalg.eigh(matrix)
    return ((vectors * values.clamp_min(eps).pow(-1.0 / root)) @ vectors.T).to(factor.dtype)


def preconditioned(matrix: Tensor, roots: dict[int, Tensor]) -> Tensor:
    """L^(-1/p) G R^(-1/p): each side's inverse root applied along its dimension (a side without
    one is left as it is)."""
    for dim, root in roots.items():
        matrix = torch.tensordot(root, matrix, dims=([1], [dim])).movedim(0, dim)
    return matrix


class Shampoo(ForeachOptimizer):
    r"""Shampoo (``shampoo``, Gupta, Koren & Singer 2018, "Shampoo: Preconditioned Stochastic Tensor
    Optimization") with the practical choices of Anil et al. 2020, "Scalable Second Order
    Optimization for Deep Learning" (grafting, an inverse root computed every few steps, a diagonal
    method's steps before the first) and of Shi et al. 2023, "A Distributed Data-Parallel PyTorch
    Implementation of the Distributed Shampoo Optimizer for Training Neural Networks At-Scale"
    (AlgoPerf's: exponential averages with bias correction, decoupled weight decay, no factor on a
    side above ``max_preconditioner_dim``).

    Each tensor is seen as a matrix G (a conv kernel: out channels by in channels x kernel height
    x kernel width). With (b1, b2) = ``betas``, k the dimensions of that matrix (2; 1 for a vector)
    and p = 2k unless ``inv_root_override``::

        L <- b2 * L + (1 - b2) * G G^T ;  R <- b2 * R + (1 - b2) * G^T G     (b2 = 1: L <- L + G G^T)
        every f = precondition_frequency steps from t = start_preconditioning_step on:
            P_L = (L / (1 - b2^t) + eps_m * I)^(-1/p) ;  P_R likewise     (eigh in float64)
        D = P_L G P_R ;  A = the grafting method's step ;  D <- D * ||A|| / ||D||
        m <- b1 * m + (1 - b1) * D ;  U = m / (1 - b1^t)   (nesterov: U = b1 * m / (1 - b1^t) + (1 - b1) * D)
        theta <- (1 - lr * lambda) * theta - lr * U

    eps_m = ``matrix_eps``; b2 = 1 gives the paper's plain sums (and no bias correction). Grafting
    (``grafting``): ``adam``, A = g / (sqrt(v / (1 - b2^t)) + eps) with v <- b2 * v + (1 - b2) * g * g;
    ``adagrad``, A = g / (sqrt(v) + eps) with v <- v + g * g; ``sgd``, A = g; ``none``, D unscaled
    (then A = g where D is not defined). A side longer than ``max_preconditioner_dim`` has no factor
    (identity there), nor has a vector (bias, norm gain) unless ``precondition_1d``: a tensor with no
    factor, and every tensor before the start step, takes D = A, the diagonal method's step.
    State: ``step``, ``exp_avg`` (m, when b1 > 0), ``exp_avg_sq`` (v, grafting ``adam`` or
    ``adagrad``), ``factor_0``/``factor_1`` (L, R) and ``inv_root_0``/``inv_root_1`` (P_L, P_R,
    identity until first computed). Not in torch.optim; its update runs eagerly under
    ``trainer.compile_optimizer`` (the roots are recomputed on some steps only).
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        matrix_eps: float = 1e-6,
        precondition_frequency: int = 10,
        start_preconditioning_step: int = 10,
        max_preconditioner_dim: int = 1024,
        grafting: str = "adam",
        *,
        nesterov: bool = False,
        precondition_1d: bool = False,
        inv_root_override: int | None = None,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        require_nonnegative(lr=lr, eps=eps, weight_decay=weight_decay)
        require_length("betas", betas, 2)
        require_fraction(**{"betas[0]": betas[0]})
        require_probability(**{"betas[1]": betas[1]})
        require_positive(matrix_eps=matrix_eps)
        require_count(
            precondition_frequency=precondition_frequency,
            start_preconditioning_step=start_preconditioning_step,
            inv_root_override=inv_root_override,
        )
        require_count(0, max_preconditioner_dim=max_preconditioner_dim)
        require_choice("grafting", grafting, GRAFTINGS)
        require(grafting != "adam" or betas[1] < 1, "betas[1]", "below 1 with grafting=adam", betas[1])
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            matrix_eps=matrix_eps,
            precondition_frequency=precondition_frequency,
            start_preconditioning_step=start_preconditioning_step,
            max_preconditioner_dim=max_preconditioner_dim,
            grafting=grafting,
            nesterov=nesterov,
            precondition_1d=precondition_1d,
            inv_root_override=inv_root_override,
            maximize=maximize,
            foreach=foreach,
        )
        super().__init__(params, defaults)

    def _init_state(self, group: Group, param: Tensor, state: State) -> None:
        state["step"] = scalar_tensor(0.0)
        if group["betas"][0] > 0:
            state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        if group["grafting"] in ("adam", "adagrad"):
            state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        if param.dim() < 2 and not group["precondition_1d"]:
            return
        for dim, size in enumerate(as_matrix(param).shape if param.dim() >= 2 else param.shape):
            if size <= group["max_preconditioner_dim"]:
                state[f"factor_{dim}"] = param.new_zeros(size, size)
                state[f"inv_root_{dim}"] = torch.eye(size, dtype=param.dtype, device=param.device)

    def _update(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> None:
        steps = step_counts(states)
        grads = coupled_grads(params, grads, 0.0, group["maximize"])
        grafts = self._grafts(group, grads, states, steps)
        directions = list(grafts)
        shaped, shampoo = [], []  # which tensors take a Shampoo direction, and that direction
        for i, (grad, state, t) in enumerate(zip(grads, states, steps, strict=True)):
            roots = self._roots(group, grad, state, t)
            if roots and t >= group["start_preconditioning_step"]:
                matrix = as_matrix(grad) if grad.dim() >= 2 else grad
                shaped.append(i)
                shampoo.append(preconditioned(matrix, roots).view_as(grad))
        if shampoo and group["grafting"] != "none":
            graft_norms = torch._foreach_norm([grafts[i] for i in shaped])
            norms = torch._foreach_norm(shampoo)
            ratios = torch.stack(graft_norms) / torch.stack(norms).clamp_min(torch.finfo(norms[0].dtype).tiny)
            torch._foreach_mul_(shampoo, ratios.unbind())
        for i, direction in zip(shaped, shampoo, strict=True):
            directions[i] = direction
        beta1, lr, weight_decay = group["betas"][0], group["lr"], group["weight_decay"]
        updates: Tensors = directions
        if beta1 > 0:
            exp_avgs = [s["exp_avg"] for s in states]
            torch._foreach_lerp_(exp_avgs, directions, 1 - beta1)
            corrections = per_tensor([1 - beta1**t for t in steps], params[0])
            momenta = torch._foreach_div(exp_avgs, corrections)  # type: ignore[arg-type]
            updates = torch._foreach_lerp(directions, momenta, beta1) if group["nesterov"] else momenta
        if weight_decay != 0:
            torch._foreach_mul_(params, 1 - lr * weight_decay)
        add_scaled_(params, updates, -lr)

    @staticmethod
    def _grafts(group: Group, grads: Tensors, states: list[State], steps: list[Any]) -> Tensors:
        """The grafting method's step A of each tensor (``none``: the gradient)."""
        grafting, beta2 = group["grafting"], group["betas"][1]
        if grafting in ("sgd", "none"):
            return grads
        exp_avg_sqs = [s["exp_avg_sq"] for s in states]
        if grafting == "adagrad":
            torch._foreach_addcmul_(exp_avg_sqs, grads, grads)
            beta2 = 0.0  # no bias correction: 1 - 0^t = 1
        else:
            ema_of_squares_(exp_avg_sqs, grads, beta2)
        return torch._foreach_div(grads, adam_denominators(exp_avg_sqs, beta2, steps, group["eps"]))

    @staticmethod
    def _roots(group: Group, grad: Tensor, state: State, t: Any) -> dict[int, Tensor]:
        """Accumulate each side's statistic, recompute its inverse root when due; returns the inverse
        roots by side (empty for a tensor without factors)."""
        beta2, start = group["betas"][1], group["start_preconditioning_step"]
        matrix = as_matrix(grad) if grad.dim() >= 2 else grad
        sides = [dim for dim in range(matrix.dim()) if f"factor_{dim}" in state]
        due = t >= start and (t - start) % group["precondition_frequency"] == 0
        root = group["inv_root_override"] or 2 * matrix.dim()
        for dim in sides:
            factor = state[f"factor_{dim}"]
            if beta2 == 1:
                factor.add_(gram(matrix, dim))
            else:
                factor.lerp_(gram(matrix, dim), 1 - beta2)
            if due:
                scale = 1.0 if beta2 == 1 else 1 - beta2**t
                state[f"inv_root_{dim}"].copy_(inverse_root(factor, scale, root, group["matrix_eps"]))
        return {dim: state[f"inv_root_{dim}"] for dim in sides}
