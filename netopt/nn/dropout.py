"""Dropout on neurons, DropConnect on connections, and variational dropout for recurrent networks.

All three are *inverted* dropout: during training each kept unit is divided by the keep rate
``1 - p`` so that the expected activation is unchanged and evaluation is the identity:

    y = x * m / (1 - p),   m ~ Bernoulli(1 - p)  (training);   y = x  (evaluation)

``p`` is the drop probability, as in PyTorch's ``Dropout``; the chapter (Qiu Xipeng, Neural Networks and Deep
Learning, ch. 7) speaks of the keep (retention) rate, which is ``1 - p`` here.
"""

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize


def _checked(p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    return p


def dropout_mask(
    shape: tuple[int, ...] | torch.Size, p: float, like: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """A scaled Bernoulli mask ``m / (1 - p)`` with ``m ~ Bernoulli(1 - p)``, of ``like``'s dtype and device.

    ``p = 1`` drops everything and gives zeros (no division by zero).
    """
    keep = 1.0 - _checked(p)
    mask = torch.empty(shape, dtype=like.dtype, device=like.device)
    if keep == 0.0:
        return mask.zero_()
    return mask.bernoulli_(keep, generator=generator).div_(keep)


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout of every element of ``x`` independently; the identity when not training."""
    if not training or p == 0.0:
        return x
    return x * dropout_mask(x.shape, p, x)


class Dropout(nn.Module):
    """Inverted dropout on neurons (PyTorch's ``Dropout`` semantics: ``p`` is the drop probability)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = _checked(p)

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class DropConnect(nn.Module):
    """DropConnect: inverted dropout on the *weights* of a layer, ``W' = W * M / (1 - p)``.

    Written as a parametrization of a layer's ``weight`` (see :func:`apply_dropconnect`), so it
    works for any layer that reads ``self.weight`` in its forward (Linear, Conv2d). Differs from
    the original DropConnect (Wan et al., 2013), which draws a mask per sample: here one mask is
    drawn per forward pass and shared by the mini-batch, which keeps the layer a single matmul.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = _checked(p)

    def forward(self, weight: Tensor) -> Tensor:
        return dropout(weight, self.p, self.training)

    def right_inverse(self, weight: Tensor) -> Tensor:
        """Assigning a weight (an initializer, a checkpoint) stores it as it is."""
        return weight

    def extra_repr(self) -> str:
        return f"p={self.p}"


def apply_dropconnect(
    model: nn.Module, p: float, layer_types: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv2d)
) -> nn.Module:
    """Put :class:`DropConnect` on the weight of every ``layer_types`` layer of ``model``, in place.

    Call it after initialization: the weight then lives in ``parametrizations.weight.original``.
    ``p = 0`` leaves the model untouched. Returns ``model``.
    """
    if p == 0.0:
        return model
    for module in list(model.modules()):
        if isinstance(module, layer_types):
            parametrize.register_parametrization(module, "weight", DropConnect(p))
    return model


class VariationalDropout(nn.Module):
    """Variational dropout (Gal & Ghahramani, 2016) for sequences: one mask per sequence.

    Input ``(T, N, F)``, or ``(N, T, F)`` with ``batch_first=True`` (torch's RNN convention). The
    mask ``(N, F)`` is drawn once per sequence and reused at every time step. Use it on the
    non-recurrent connections only: on the input of each recurrent layer and on the output fed
    to the classifier, never on the hidden-to-hidden path.
    """

    def __init__(self, p: float = 0.5, batch_first: bool = False) -> None:
        super().__init__()
        self.p = _checked(p)
        self.batch_first = batch_first

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        time_dim = 1 if self.batch_first else 0
        shape = list(x.shape)
        shape[time_dim] = 1
        return x * dropout_mask(tuple(shape), self.p, x)

    def extra_repr(self) -> str:
        return f"p={self.p}, batch_first={self.batch_first}"


#: The layers that draw a mask in training mode: Monte-Carlo dropout switches on exactly these.
STOCHASTIC_LAYERS = (Dropout, DropConnect, VariationalDropout)
