"""Lookahead (Zhang et al. 2019): slow weights that follow the fast weights of any base optimizer."""

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from netopt.checks import require, require_count
from netopt.errors import config_key
from netopt.optim.base import Wrapper, by_device_and_dtype


class Lookahead(Wrapper):
    r"""Lookahead (``lookahead``, Zhang, Lucas, Hinton & Ba 2019, "Lookahead Optimizer: k steps
    forward, 1 step back") around any base optimizer.

    The base optimizer takes k fast steps from the slow weights phi, then phi moves a fraction
    alpha of the way to where they led::

        theta_0 = phi ;  theta_i <- base step from theta_{i-1}, i = 1..k
        phi <- phi + alpha * (theta_k - phi) ;  theta <- phi

    phi starts at the weights of the first step. ``base`` (keyword only) builds the wrapped
    optimizer from param groups, e.g. ``functools.partial(netopt.optim.Adam, lr=1e-3)``; the two
    share their param groups (a schedule setting ``lr`` reaches the base) and their state. ``k`` and
    ``alpha`` hold for every group and are attributes, not group keys (a group key ``alpha`` is
    RMSprop's). ``state_dict`` is the base's with ``lookahead``: the fast steps taken and phi of
    each parameter by its index, as torch numbers parameters; a base's state dict without it (a
    torch optimizer's) loads too, and phi then starts again at the next step. The model holds the
    fast weights; every k steps they are phi. ``step(closure)`` hands the closure to the base (so
    SAM can be the base); gradient transforms and the compiled update act on the base.
    """

    def __init__(
        self,
        params: Any,
        *,
        base: Callable[..., torch.optim.Optimizer],
        k: int = 5,
        alpha: float = 0.5,
    ) -> None:
        require_count(k=k)
        require(0 < alpha <= 1, "alpha", "in (0, 1]", alpha)
        super().__init__(params, {})
        with config_key("base"):
            self.base = base(self.param_groups)
        self.share_with_base()
        self.k, self.alpha = k, alpha
        self.fast_steps = 0
        self.slow: dict[Tensor, Tensor] = {}  # phi of each parameter

    def _params(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One fast step of the base; every k-th also moves phi and sets theta to it."""
        if not self.slow:
            self.slow = {p: p.detach().clone() for p in self._params()}
        loss = self.base.step(closure)
        self.fast_steps += 1
        if self.fast_steps % self.k == 0:
            self._step_back()
        return loss

    @torch.no_grad()
    def _step_back(self) -> None:
        """phi <- phi + alpha * (theta - phi) ;  theta <- phi."""
        for fast in by_device_and_dtype(list(self.slow)):
            slow = [self.slow[p] for p in fast]
            torch._foreach_lerp_(slow, fast, self.alpha)
            torch._foreach_copy_(fast, slow)

    def state_dict(self) -> dict[str, Any]:
        index = {p: i for i, p in enumerate(self._params())}
        slow = {index[p]: phi for p, phi in self.slow.items()}
        return {**self.base.state_dict(), "lookahead": {"fast_steps": self.fast_steps, "slow": slow}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        saved = state_dict.get("lookahead", {"fast_steps": 0, "slow": {}})
        params = self._params()
        self.fast_steps = saved["fast_steps"]
        self.slow = {
            params[i]: phi.to(device=params[i].device, dtype=params[i].dtype, copy=True)
            for i, phi in saved["slow"].items()
        }
