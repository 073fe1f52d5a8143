"""SAM: sharpness-aware minimization (Foret et al. 2021), the flat minima of Qiu Xipeng, Neural
Networks and Deep Learning, ch. 7, made into an optimizer."""

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from netopt.checks import require_nonnegative
from netopt.errors import config_key
from netopt.optim.base import Tensors, Wrapper, by_device_and_dtype
from netopt.optim.clip import global_norm, grads_of


class SAM(Wrapper):
    r"""Sharpness-aware minimization (``sam``, Foret et al. 2021, "Sharpness-Aware Minimization for
    Efficiently Improving Generalization") around any base optimizer.

    Each step minimizes the worst loss in a ball of radius rho around theta::

        e = rho * g / ||g||     (adaptive, ASAM: e = rho * theta^2 * g / ||theta * g||)
        g_sam = grad L(theta + e) ;  theta <- base optimizer step from theta with g_sam

    so the base optimizer is pulled towards flat minima (the book's section on them), at
    the cost of two forward/backward passes per step. ``step(closure)`` needs the closure: it
    calls it at theta (the loss it returns) and again at theta + e. ``base`` (keyword only) builds
    the wrapped optimizer from param groups, e.g. ``functools.partial(netopt.optim.SGD, lr=0.1,
    momentum=0.9)``; the two share their param groups (a schedule setting ``lr`` reaches the base)
    and their state; ``state_dict`` is the base optimizer's with ``rho`` and ``adaptive`` in each
    group. Gradient transforms (:func:`netopt.optim.with_transforms`) wrap the base, so gradient
    noise is added to g_sam only; :func:`netopt.optim.compile_update` compiles the base's update.
    Layers with running statistics (batch norm) update them in both passes.
    """

    def __init__(
        self,
        params: Any,
        *,
        base: Callable[..., torch.optim.Optimizer],
        rho: float = 0.05,
        adaptive: bool = False,
    ) -> None:
        require_nonnegative(rho=rho)
        super().__init__(params, dict(rho=rho, adaptive=adaptive))
        with config_key("base"):
            self.base = base(self.param_groups)
        self.share_with_base()

    def _perturb(self) -> list[tuple[list[Tensor], tuple[Tensor, ...]]]:
        """theta <- theta + e in place; returns (params, copies of theta) to restore afterwards."""
        batches = [
            (group, params)
            for group in self.param_groups
            for params in by_device_and_dtype([p for p in group["params"] if p.grad is not None])
        ]
        magnitudes = [torch._foreach_abs(params) if group["adaptive"] else None for group, params in batches]
        grads = [grads_of(params) for _, params in batches]
        directions: list[Tensors] = [
            g if abs_params is None else torch._foreach_mul(g, abs_params)
            for g, abs_params in zip(grads, magnitudes, strict=True)
        ]
        norm = global_norm([d for ds in directions for d in ds])
        saved = []
        for (group, params), ds, abs_params in zip(batches, directions, magnitudes, strict=True):
            saved.append((params, torch._foreach_mul(params, 1.0)))
            scale = (group["rho"] / (norm + 1e-12)).to(params[0].device)
            steps = torch._foreach_mul(ds, scale)
            if abs_params is not None:
                torch._foreach_mul_(steps, abs_params)
            torch._foreach_add_(params, steps)
        return saved

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Evaluate ``closure`` at theta and at theta + e, then take the base step from theta."""
        if closure is None:
            raise RuntimeError("SAM.step needs a closure: it evaluates the loss twice per step")
        with torch.enable_grad():
            loss = closure()
        saved = self._perturb()
        with torch.enable_grad():
            closure()
        for params, originals in saved:
            torch._foreach_copy_(params, originals)
        self.base.step()
        return loss
