"""A model's trainable parameters as one flat vector, grouped by layer, and evaluation mode.

The landscape instruments treat the parameters theta as one vector in R^n: the concatenation of
every trainable parameter (``requires_grad``) in ``model.parameters()`` order, each flattened. A
weight-normalized layer contributes its real parameters g and v, not the weight g v / ||v||.
"""

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

_PARAMETRIZATION = re.compile(r"(^|\.)parametrizations\.[^.]+$")


def trainable(model: nn.Module) -> list[Tensor]:
    """The parameters of ``model`` that require a gradient."""
    return [p for p in model.parameters() if p.requires_grad]


def layer_parameters(model: nn.Module) -> dict[str, list[Tensor]]:
    """The trainable parameters grouped by the module that owns them, keyed by its name.

    A parametrized weight belongs to the layer it parametrizes: the g and v of a weight-normalized
    ``layers.0`` (``layers.0.parametrizations.weight.original0/1``) join its bias under ``layers.0``.
    """
    groups: dict[str, list[Tensor]] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            owner = _PARAMETRIZATION.sub("", name.rpartition(".")[0])
            groups.setdefault(owner, []).append(param)
    return groups


def flatten(tensors: Sequence[Tensor]) -> Tensor:
    """The tensors as one vector, each flattened, in order."""
    return torch.cat([t.reshape(-1) for t in tensors])


def unflatten(vector: Tensor, like: Sequence[Tensor]) -> list[Tensor]:
    """Split a flat ``vector`` into views shaped like ``like`` (the inverse of :func:`flatten`)."""
    chunks = vector.split([t.numel() for t in like])
    return [chunk.view_as(t) for chunk, t in zip(chunks, like, strict=True)]


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in evaluation mode (batch norm uses its running estimates, no dropout) for the
    block, then give every submodule back the mode it had."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training
