"""The update of a netopt optimizer through ``torch.compile``: one graph, compiled once.

``trainer.compile_optimizer=true`` makes the runner call :func:`compile_update` on the optimizer it
built; from Python, ``compile_update(netopt.optim.Adam(params))``. Only the update is compiled:
gathering the parameters, the gradient transforms and the closure stay eager.
"""

import logging
import time
from typing import Any

import torch
from torch import Tensor

from netopt.compiling import Compiled
from netopt.errors import ConfigValueError
from netopt.optim.base import ForeachOptimizer, Group, State, Tensors

log = logging.getLogger(__name__)


class CompiledUpdate:
    """``optimizer._update`` through ``torch.compile`` (one graph, ``fullgraph=True``), with the
    group's lr a float64 tensor input, as the step counts are (see
    :func:`netopt.optim.base.scalar_values`), so a new lr or step compiles nothing new.

    Where compiling fails, one warning and the eager update from then on (:class:`Compiled`). The
    seconds spent compiling are logged once and kept in ``compile_time_s``.
    """

    def __init__(self, optimizer: ForeachOptimizer) -> None:
        self.name = type(optimizer).__name__
        self.update = optimizer._update
        self.compiled = Compiled(
            self.update,
            f"{self.name}: compile_update",
            "the update",
            eager=lambda group, *rest: self.update({**group, "lr": group["lr"].item()}, *rest),
            fullgraph=True,
            # dynamo's guards already check every input's sizes and strides before each call; the
            # generated code need not check them again
            options={"size_asserts": False},
        )
        self.batches: set[int] = set()  # the lists of tensors a graph was built for (by first tensor)
        self.compile_time_s = 0.0

    @property
    def failed(self) -> bool:
        """Whether compiling failed (the update then runs eagerly)."""
        return self.compiled.failed

    def __call__(self, group: Group, params: list[Tensor], grads: Tensors, states: list[State]) -> None:
        if self.failed:
            self.update(group, params, grads, states)
            return
        start = time.perf_counter()
        self.compiled({**group, "lr": torch.tensor(group["lr"], dtype=torch.float64)}, params, grads, states)
        if self.failed or id(params[0]) in self.batches:
            return
        seconds = time.perf_counter() - start  # this call compiled the update for the list
        if not self.batches:
            log.info("%s: compiled the update in %.1f s", self.name, seconds)
        self.batches.add(id(params[0]))
        self.compile_time_s += seconds


def compile_update(optimizer: torch.optim.Optimizer) -> CompiledUpdate:
    """Run the update of ``optimizer`` through ``torch.compile`` from its next step on: of a netopt
    optimizer, of the one it steps through (SAM's base, the optimizer after the gradient
    transforms), or of each of the ``bases`` it steps (:class:`netopt.optim.Split`'s; the last one's is
    returned). Returns the :class:`CompiledUpdate`; refuses an optimizer netopt did not write."""
    inner: Any = optimizer
    while not isinstance(inner, ForeachOptimizer):
        if hasattr(inner, "bases"):
            return [compile_update(base) for base in inner.bases][-1]
        if not hasattr(inner, "base"):
            allowed = f"false with {type(optimizer).__name__}, whose update netopt did not write"
            raise ConfigValueError("compile_optimizer", True, allowed)
        inner = inner.base
    inner.compiled_update = CompiledUpdate(inner)
    return inner.compiled_update
