"""One optimizer for the weight matrices of the hidden layers, another for every other parameter:
how Muon is used (Jordan et al. 2024), with AdamW for biases, gains and the output layer."""

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from netopt.errors import config_key
from netopt.optim.base import Group, Optimizer, closure_loss


def is_matrix(param: Tensor) -> bool:
    """Whether ``param`` is a weight matrix: 2-D or more, more than one row and more than one entry
    per row (a weight-norm gain of shape (n, 1) is not)."""
    return param.ndim >= 2 and param.size(0) > 1 and param[0].numel() > 1


def as_groups(params: Any) -> list[Group]:
    """``params`` as a list of param groups (dicts with a list of tensors each), as torch reads an
    optimizer's first argument."""
    groups = list(params)
    if not groups:
        raise ValueError("optimizer got an empty parameter list")
    if not isinstance(groups[0], dict):
        return [{"params": groups}]
    return [
        {**g, "params": [g["params"]] if isinstance(g["params"], Tensor) else list(g["params"])}
        for g in groups
    ]


class Split(Optimizer):
    r"""The weight matrices of the hidden layers stepped by ``hidden`` (Muon), every other parameter
    by ``rest`` (AdamW): Jordan et al. 2024, "Muon: An optimizer for hidden layers in neural
    networks", keep Muon to the hidden layers' matrices.

    A parameter is a hidden matrix when it is 2-D or more with more than one row and column (a conv
    kernel counts, seen as the matrix out channels x in channels * kernel size) and is not the last
    such parameter given, which is taken as the output layer (netopt's models, like most, register
    their classifier last). Biases, normalization gains, the output layer and embeddings (there are none in
    netopt's models) go to ``rest``. A param group given as a dict may say ``hidden: true`` or
    ``false`` to decide for all its parameters instead.

    ``hidden`` and ``rest`` (keyword only) build the two optimizers from param groups, e.g.
    ``functools.partial(netopt.optim.Muon, lr=0.02)`` and ``netopt.optim.AdamW``; each param group
    given becomes up to two, one per optimizer, with the hyperparameters of its own optimizer. The
    optimizers share their param groups and state with this one: a schedule that sets ``lr`` in each
    group reaches both (each keeps its own base lr), and ``state_dict`` is torch's, of all the groups
    (the hidden optimizer's first). ``effective_lr`` is that of the optimizer that steps the parameter.
    """

    def __init__(
        self,
        params: Any,
        *,
        hidden: Callable[..., torch.optim.Optimizer],
        rest: Callable[..., torch.optim.Optimizer],
    ) -> None:
        groups = as_groups(params)
        matrices = [p for g in groups for p in g["params"] if is_matrix(p)]
        output_layer = matrices[-1] if matrices else None
        parts: dict[str, list[Group]] = {"hidden": [], "rest": []}
        for group in groups:
            options = {k: v for k, v in group.items() if k not in ("params", "hidden")}
            chosen = group.get("hidden")
            members: dict[str, list[Tensor]] = {"hidden": [], "rest": []}
            for p in group["params"]:
                in_hidden = chosen if chosen is not None else is_matrix(p) and p is not output_layer
                members["hidden" if in_hidden else "rest"].append(p)
            for name, found in members.items():
                if found:
                    parts[name].append({**options, "params": found})
        self.bases: list[torch.optim.Optimizer] = []
        for name, build in (("hidden", hidden), ("rest", rest)):
            if parts[name]:
                with config_key(name):
                    self.bases.append(build(parts[name]))
        super().__init__([g for base in self.bases for g in base.param_groups], {})
        self._share()

    def _share(self) -> None:
        """Make this optimizer's param groups and state those of its optimizers, in order."""
        first = 0
        for base in self.bases:
            groups = self.param_groups[first : first + len(base.param_groups)]
            first += len(groups)
            base.__setstate__({"state": self.state, "param_groups": groups})

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._share()

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)  # torch's keeps only its own keys, and a copy would lose the bases

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """``closure`` (backward) first, then each optimizer's step."""
        loss = closure_loss(closure)
        for base in self.bases:
            base.step()
        return loss

    def effective_lr(self, param: Tensor) -> Tensor | None:
        """The :meth:`Optimizer.effective_lr` of the optimizer that steps ``param`` (None if it has none)."""
        for base in self.bases:
            if any(p is param for g in base.param_groups for p in g["params"]):
                rates = getattr(base, "effective_lr", None)
                return None if rates is None else rates(param)
        return None
