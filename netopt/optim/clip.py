"""Gradient clipping by value and by global norm (Qiu Xipeng, Neural Networks and Deep Learning,
ch. 7), and the plain norm measure.

Each function takes the parameters after ``backward`` and returns the pre-clip gradient norm, which
the training loop logs as ``train/grad_norm``; :func:`no_clip` (``clip=none``) returns None, and
the loop then measures the norm itself, every ``trainer.grad_norm_every`` steps.
"""

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from netopt.checks import require, require_length, require_nonnegative, require_positive
from netopt.optim.base import by_device_and_dtype


def grads_of(parameters: Iterable[Tensor] | Tensor) -> list[Tensor]:
    """The ``.grad`` of every parameter that has one."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def global_norm(tensors: list[Tensor], norm_type: float = 2.0) -> Tensor:
    """The norm of all tensors concatenated (the norm of the per-tensor norms), a 0-dim tensor on
    the first tensor's device."""
    if not tensors:
        return torch.tensor(0.0)
    groups = by_device_and_dtype(tensors)
    if len(groups) == 1:  # the common case, without moving the per-tensor norms
        return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(groups[0], norm_type)), norm_type)
    device = tensors[0].device
    norms = [n.to(device) for group in groups for n in torch._foreach_norm(group, norm_type)]
    return torch.linalg.vector_norm(torch.stack(norms), norm_type)


def grad_norm(parameters: Iterable[Tensor] | Tensor) -> Tensor:
    """The global L2 norm ||g|| of all gradients (0-dim tensor); clips nothing."""
    return global_norm(grads_of(parameters), 2.0)


def no_clip(parameters: Iterable[Tensor] | Tensor) -> None:
    """No clipping (``clip=none``): leaves the gradients as they are and measures nothing."""


def clip_grad_norm_(
    parameters: Iterable[Tensor] | Tensor,
    max_norm: float = 1.0,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Clipping by global norm: if ||g|| > b then g <- b * g / ||g||, in place; returns ||g|| before
    clipping.

    ``||g||`` is the ``norm_type`` norm over all gradients together (2: L2, ``inf``: max |g|). As in
    PyTorch's ``clip_grad_norm_`` the scale is min(1, b / (||g|| + 1e-6)), which keeps the
    division finite; the book writes b / ||g|| (and, by a typo, compares ||g||^2 with b).
    ``foreach=False`` scales the gradients one at a time. Unlike torch's, ``max_norm`` has a default.
    """
    require_positive(max_norm=max_norm)
    require(norm_type > 0, "norm_type", "> 0 (inf: the largest |g|)", norm_type)
    grads = grads_of(parameters)
    total = global_norm(grads, float(norm_type))
    if error_if_nonfinite and not torch.isfinite(total):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is not finite")
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for group in by_device_and_dtype(grads):
        group_scale = scale.to(group[0].device)
        if foreach is False:
            for g in group:
                g.mul_(group_scale)
        else:
            torch._foreach_mul_(group, group_scale)
    return total


def clip_grad_value_(
    parameters: Iterable[Tensor] | Tensor,
    clip_value: float | None = None,
    *,
    interval: Sequence[float] | None = None,
) -> Tensor:
    """Clipping by value: g <- max(min(g, b), a) elementwise, in place, on the interval [a, b] =
    ``interval`` or [-clip_value, clip_value]; returns the global L2 norm ||g|| before clipping.

    PyTorch's ``clip_grad_value_`` covers the symmetric case and returns nothing.
    """
    both = "null while clip_value is set (clip_value=null clips to the interval)"
    require(clip_value is None or interval is None, "interval", both, interval)
    missing = "set (clips to [-c, c]) unless interval=[a, b] is"
    require(clip_value is not None or interval is not None, "clip_value", missing, None)
    if interval is None:
        assert clip_value is not None  # required above
        require_nonnegative(clip_value=clip_value)
        low, high = -clip_value, clip_value
    else:
        require_length("interval", interval, 2)
        low, high = interval
        require(low <= high, "interval", "[a, b] with a <= b", list(interval))
    grads = grads_of(parameters)
    total = global_norm(grads, 2.0)
    for group in by_device_and_dtype(grads):
        torch._foreach_clamp_min_(group, low)
        torch._foreach_clamp_max_(group, high)
    return total
