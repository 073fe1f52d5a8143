"""Models; normalization, dropout and the activation are injected from the config."""

from torch import nn

from netopt.nn.dropout import Dropout

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
