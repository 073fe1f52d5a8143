r"""Gradient transforms: what happens to the gradients between backward and the update, for every
optimizer alike (as optax chains ``add_noise`` before a solver).

A transform is called with the optimizer's param groups after backward (and clipping) and changes
the ``.grad`` of their parameters in place; it keeps its own state (``state_dict`` /
``load_state_dict``) and says whether it is ``active`` (one that is not would change nothing).
:func:`with_transforms` puts the active transforms in front of an optimizer: the result steps on
the gradients as the transforms leave them. The runner applies the ``grad_noise`` group this way,
so each transform is applied in this one place.

:class:`GradientNoise` (``grad_noise``, Neelakantan et al. 2015, "Adding Gradient Noise Improves
Learning for Very Deep Networks") adds annealed Gaussian noise before each update::

    g <- g + n,   n ~ N(0, sigma_t^2 I),   sigma_t^2 = eta / (1 + t)^gamma

with t the number of updates before this one (0 at the first).
"""

import math
from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import Tensor

from netopt.checks import require_nonnegative
from netopt.optim.base import Group, Wrapper, by_device_and_dtype, closure_loss
from netopt.optim.clip import grads_of
from netopt.optim.lookahead import Lookahead
from netopt.optim.sam import SAM


class GradientTransform(Protocol):
    @property
    def active(self) -> bool: ...

    def __call__(self, param_groups: list[Group], /) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any], /) -> None: ...


def random_seed() -> int:
    """A seed drawn from torch's global generator (so ``torch.manual_seed`` fixes it)."""
    return int(torch.randint(2**62, ()).item())


class GradientNoise:
    r"""Gradient noise: g <- g + n, n ~ N(0, eta / (1 + t)^gamma I), before every update.

    The noise is added to the gradient of the loss (before the optimizer's weight decay; with SAM
    to g_sam, the gradient its base steps with). Neelakantan et al. use eta in {0.01, 0.3, 1} and
    gamma = 0.55. eta = 0 (the default, ``grad_noise=none``) is not ``active``: it adds nothing,
    draws nothing, and :func:`with_transforms` leaves it out. The noise is drawn from a
    ``torch.Generator`` of its own on the gradients' device, seeded from torch's global generator
    when the transform is built (so ``trainer.seed`` fixes it, and every process of a data-parallel
    run draws the same noise for its identical averaged gradients), one draw per param group and
    list of gradients of one device and dtype. ``state_dict`` holds t, the seed and each device's
    generator state, so a resumed run draws the noise of one that never stopped.
    """

    def __init__(self, eta: float = 0.0, gamma: float = 0.55) -> None:
        require_nonnegative(eta=eta, gamma=gamma)
        self.eta, self.gamma = eta, gamma
        self.t = 0  # the number of updates so far
        self.seed = random_seed() if eta > 0 else None
        self.generators: dict[str, torch.Generator] = {}
        self.saved: dict[str, Tensor] = {}  # loaded states of generators not made yet

    @property
    def active(self) -> bool:
        """Whether it adds noise: eta > 0."""
        return self.eta > 0

    def std(self) -> float:
        """sigma_t = sqrt(eta / (1 + t)^gamma)."""
        return math.sqrt(self.eta / (1 + self.t) ** self.gamma)

    def __call__(self, param_groups: list[Group]) -> None:
        """g <- g + sigma_t * n in place for every gradient of ``param_groups``; then t <- t + 1."""
        if self.eta > 0:
            std = self.std()
            for group in param_groups:
                for grads in by_device_and_dtype(grads_of(group["params"])):
                    self._add_noise(grads, std)
        self.t += 1

    def _add_noise(self, grads: list[Tensor], std: float) -> None:
        """g <- g + std * n, n ~ N(0, I), in place: one draw for the list (one device and dtype)."""
        sizes = [g.numel() for g in grads]
        device, dtype = grads[0].device, grads[0].dtype
        noise = torch.randn(sum(sizes), generator=self._generator(device), device=device, dtype=dtype)
        torch._foreach_add_(
            grads, [n.view_as(g) for n, g in zip(noise.split(sizes), grads, strict=True)], alpha=std
        )

    def _generator(self, device: torch.device) -> torch.Generator:
        """The noise generator on ``device``: restored from a loaded state, else seeded."""
        name = str(device)
        if name not in self.generators:
            generator = torch.Generator(device)
            if name in self.saved:
                generator.set_state(self.saved.pop(name))
            else:
                if self.seed is None:  # eta set after the transform was built
                    self.seed = random_seed()
                generator.manual_seed(self.seed)
            self.generators[name] = generator
        return self.generators[name]

    def state_dict(self) -> dict[str, Any]:
        """t, the seed and the state of each device's generator."""
        generators = {name: g.get_state() for name, g in self.generators.items()}
        return {"step": self.t, "seed": self.seed, "generators": self.saved | generators}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.t, self.seed = state["step"], state["seed"]
        self.generators, self.saved = {}, dict(state["generators"])


class Transformed(Wrapper):
    """``base`` stepping on the gradients as ``transforms`` leave them (see :func:`with_transforms`).

    ``state_dict`` is the base's with each transform's state under its name; it loads into the
    base's torch namesake (which ignores those keys) and loads the namesake's (the transforms then
    keep their state).
    """

    def __init__(self, base: torch.optim.Optimizer, transforms: dict[str, GradientTransform]) -> None:
        super().__init__(base.param_groups, {})
        self.base, self.transforms = base, transforms
        self.share_with_base()

    def state_dict(self) -> dict[str, Any]:
        return {**self.base.state_dict(), **{name: t.state_dict() for name, t in self.transforms.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        for name, transform in self.transforms.items():
            if name in state_dict:
                transform.load_state_dict(state_dict[name])

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """``closure`` (backward) first, then every transform in order, then the base's step."""
        loss = closure_loss(closure)
        for transform in self.transforms.values():
            transform(self.param_groups)
        self.base.step()
        return loss


def with_transforms(
    optimizer: torch.optim.Optimizer, **transforms: GradientTransform
) -> torch.optim.Optimizer:
    """``optimizer`` stepping on the gradients as ``transforms`` (by name, applied in order) leave
    them: a :class:`Transformed` around it, or for :class:`SAM` and :class:`Lookahead` the optimizer
    itself, its base stepping with them (with SAM they act on g_sam only, once per step).
    Transforms that are not ``active`` (gradient noise with eta = 0) are left out: without an active
    one, ``optimizer`` itself."""
    transforms = {name: transform for name, transform in transforms.items() if transform.active}
    if not transforms:
        return optimizer
    if isinstance(optimizer, (SAM, Lookahead)):
        optimizer.base = with_transforms(optimizer.base, **transforms)
        optimizer.share_with_base()
        return optimizer
    return Transformed(optimizer, transforms)
