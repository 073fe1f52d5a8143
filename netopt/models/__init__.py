"""Models; normalization and the activation are injected from the config.

Every model takes ``(in_shape, num_classes, norm)`` from the runner (the input's shape, the number of
classes and a :class:`netopt.nn.norm.Normalization`) and its own options with defaults: first
``dropout``, the drop probability of its dropout layers (0: none), which the dropout regularizer
(:mod:`netopt.regularization.dropout`) hands over when chosen, then its architecture.
"""

import os
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from netopt.checks import require_choice, require_fraction
from netopt.errors import UserError
from netopt.init import gain
from netopt.nn.dropout import Dropout
from netopt.tasks import CLASSIFICATION, Task

#: The activations a model config may name (``model.activation``).
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
}


def sequential(*layers: nn.Module) -> nn.Sequential:
    """``nn.Sequential`` of ``layers`` without the ``nn.Identity`` ones (unused normalization slots),
    which would only cost a module call each step."""
    return nn.Sequential(*(layer for layer in layers if not isinstance(layer, nn.Identity)))


def dropout_layer(p: float) -> nn.Module:
    """Inverted dropout with drop probability ``p``; the identity when ``p`` is 0."""
    return Dropout(p) if p else nn.Identity()


class Model(nn.Module):
    """The base of netopt's models: an ``nn.Module`` that checks its activation and drop probability
    and says what its initializer needs.

    :meth:`init_arguments` gives the keyword arguments of the ``init(model, ...)`` call: the gain of
    the model's activation and the gate count of modules whose weight stacks several gates;
    :meth:`fit_inputs` initializes what depends on the training data. :attr:`task` is what its output
    is trained and evaluated as (:mod:`netopt.tasks`): the logits of the classes unless it says otherwise.
    """

    task: Task = CLASSIFICATION

    def __init__(self, activation: str, dropout: float) -> None:
        super().__init__()
        require_choice("activation", activation, tuple(ACTIVATIONS))
        require_fraction(dropout=dropout)
        self.activation = activation

    def init_arguments(self) -> dict[str, Any]:
        return {"gain": gain(self.activation), "gates": {}}

    def fit_inputs(self, x: Tensor) -> None:
        """Data-dependent initialization from a sample ``x`` of the preprocessed training inputs,
        after ``init`` and before training (a whitening first layer); none by default."""


def free_memory() -> int:
    """The bytes of main memory free for a new allocation (``MemAvailable`` of ``/proc/meminfo``,
    else the free pages)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def require_fits(build: Callable[[], nn.Module], free: int | None = None) -> None:
    """Refuse, with one line naming the size, a model whose parameters and buffers alone need more
    than the ``free`` bytes of memory (:func:`free_memory` by default): ``build`` makes it on torch's
    ``meta`` device, where a tensor has a shape and a type but no storage."""
    with torch.device("meta"):
        model = build()
    tensors = [*model.parameters(), *model.buffers()]
    size = sum(t.numel() * t.element_size() for t in tensors)
    free = free_memory() if free is None else free
    if size > free:
        count = sum(t.numel() for t in model.parameters())
        raise UserError(
            f"model: {count:,} parameters need {size / 1e9:,.1f} GB, more than the {free / 1e9:,.1f} GB "
            "of memory free; choose a smaller model (model.width, model.depth, ...)"
        )
