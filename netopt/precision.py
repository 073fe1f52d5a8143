"""Mixed precision (``trainer.precision``): the forward pass under autocast, and the dynamic loss
scaling that float16 needs.

``fp32`` trains in float32 throughout. ``bf16`` and ``fp16`` run the forward pass and the loss under
``torch.autocast``: matrix products and convolutions in the 16-bit type, reductions such as the
softmax in float32 (torch's autocast op lists), the weights, their gradients and the optimizer's
state in float32. The normalization layers of :mod:`netopt.nn.norm` compute in float32 under
autocast. bfloat16 keeps float32's exponent range and needs nothing more; float16's range ends at
65504 and its smallest subnormal is 6e-8, so small gradients of the loss underflow to 0 in the
backward pass unless the loss is scaled first (:class:`LossScaler`; Micikevicius et al. 2018, Mixed
Precision Training).
"""

import contextlib
import logging
import math
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from netopt.checks import require, require_count, require_positive
from netopt.errors import UserError
from netopt.optim.base import by_device_and_dtype
from netopt.optim.clip import global_norm, grads_of

log = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

AutocastFactory = Callable[[], contextlib.AbstractContextManager[Any]]


def autocast(precision: str, device: torch.device) -> AutocastFactory:
    """A factory of the context the forward pass runs in: ``torch.autocast`` to the 16-bit type of
    ``precision`` on ``device``, or nothing for ``fp32``. A device without autocast for that type is
    a :class:`UserError` naming ``trainer.precision``."""
    dtype = DTYPES[precision]
    if dtype == torch.float32:
        return contextlib.nullcontext
    if not autocasts(device, dtype):
        raise UserError(
            f"trainer.precision={precision}: torch {torch.__version__} has no autocast to {dtype} on "
            f"{device.type}; use fp32 or bf16"
        )
    return lambda: torch.autocast(device.type, dtype)


def autocasts(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether a matrix product under ``torch.autocast(device.type, dtype)`` comes out in ``dtype``
    (torch disables autocast, with a warning, for a type it does not support on a device)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with torch.autocast(device.type, dtype):
                product = torch.ones(1, 1, device=device) @ torch.ones(1, 1, device=device)
        except RuntimeError:
            return False
    return product.dtype == dtype


class LossScaler:
    r"""Dynamic loss scaling for float16 training (Micikevicius et al. 2018, Mixed Precision Training;
    the schedule of torch's ``GradScaler``).

    With scale S, every step back-propagates S * L instead of L, so that the gradients, computed in
    float16 inside the network, stay above its underflow; then::

        g <- g / S                                   (the true gradients, before clipping)
        if some g is inf or NaN:  skip the step,  S <- S * backoff_factor,  good <- 0
        else:                     step,           good <- good + 1
                                  if good = growth_interval:  S <- S * growth_factor,  good <- 0

    so S settles just below the largest scale at which the gradients do not overflow. Defaults as
    torch: S_0 = 2^16, growth 2, backoff 1/2, growth interval 2000. Deciding whether to skip reads
    one flag from the device: one synchronization per step, as torch's ``GradScaler``. S and the
    count of good steps are Python numbers, saved by :meth:`state_dict`. ``enabled=False`` (fp32,
    bf16): every method is the identity and :meth:`step` is ``optimizer.step(closure)``.
    """

    def __init__(
        self,
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        require_positive(init_scale=init_scale)
        require(growth_factor > 1.0, "growth_factor", "> 1", growth_factor)
        require(0.0 < backoff_factor < 1.0, "backoff_factor", "in (0, 1)", backoff_factor)
        require_count(growth_interval=growth_interval)
        self.scale, self.growth_factor, self.backoff_factor = float(init_scale), growth_factor, backoff_factor
        self.growth_interval, self.enabled = growth_interval, enabled
        self.good_steps = 0  # consecutive steps with finite gradients since S last changed
        self.finite: Tensor | None = None  # whether the gradients unscaled last were all finite

    def scale_loss(self, loss: Tensor) -> Tensor:
        """S * L, the objective to back-propagate."""
        return loss * self.scale if self.enabled else loss

    def unscale_(self, params: Iterable[Tensor]) -> None:
        """g <- g / S in place for every parameter's gradient, and note whether all are finite (a
        0-dim tensor on the device, read by :meth:`step`)."""
        if not self.enabled:
            return
        grads = grads_of(params)
        for group in by_device_and_dtype(grads):
            torch._foreach_mul_(group, 1.0 / self.scale)
        self.finite = torch.isfinite(global_norm(grads, math.inf))  # max |g|: inf or NaN if any is

    def step(self, optimizer: torch.optim.Optimizer, closure: Callable[[], Tensor]) -> tuple[Tensor, bool]:
        """``optimizer.step(closure)``, skipped when the gradients of S * L overflowed, then the update
        of S; the loss and whether the optimizer stepped. ``closure`` runs forward,
        :meth:`scale_loss`, backward and :meth:`unscale_` and returns the (unscaled) loss. An
        optimizer that needs the closure itself (SAM, which evaluates it twice) cannot be skipped
        between its passes: the runner refuses fp16 with it."""
        if not self.enabled:
            return optimizer.step(closure), True  # type: ignore[arg-type,return-value]  # the stub wants floats
        loss = closure()
        if self.finite is None:
            raise RuntimeError("LossScaler.step: the closure must call unscale_ after backward")
        finite, self.finite = bool(self.finite), None  # the step's synchronization
        if finite:
            optimizer.step()
        self.update(finite)
        return loss, finite

    def update(self, finite: bool) -> None:
        """S <- S * backoff after an overflow; S <- S * growth after ``growth_interval`` good steps."""
        if not finite:
            self.scale *= self.backoff_factor
            self.good_steps = 0
            log.debug("loss scale: gradients overflowed, step skipped, S = %g", self.scale)
            return
        self.good_steps += 1
        if self.good_steps == self.growth_interval:
            self.scale *= self.growth_factor
            self.good_steps = 0

    def state_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "good_steps": self.good_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale, self.good_steps = float(state["scale"]), int(state["good_steps"])
