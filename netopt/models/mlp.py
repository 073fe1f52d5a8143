"""A multilayer perceptron: ``depth`` hidden layers of ``width`` units, then a linear classifier.

Each hidden layer is affine map -> normalization -> activation -> post-activation normalization -> dropout,
the order the chapter gives (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7: batch/layer norm before the
activation, LRN after it).
"""

import math

from torch import Tensor, nn

from netopt.checks import require_count
from netopt.models import ACTIVATIONS, Model, dropout_layer, sequential
from netopt.nn.norm import Normalization


def hidden_layer(
    norm: Normalization, fan_in: int, width: int, activation: str, dropout: float
) -> list[nn.Module]:
    """One hidden layer of ``width`` units: affine map -> normalization -> activation -> post-activation
    normalization -> dropout (the slots ``norm`` leaves empty are dropped by :func:`sequential`)."""
    return [
        norm.wrap(nn.Linear(fan_in, width)),
        norm.after_affine(width, spatial=False),
        ACTIVATIONS[activation](),
        norm.after_activation(width, spatial=False),
        dropout_layer(dropout),
    ]


class MLP(Model):
    """``depth`` hidden layers of ``width`` units with ``activation``, then a linear classifier."""

    def __init__(
        self,
        in_shape: tuple[int, ...],
        num_classes: int,
        norm: Normalization,
        dropout: float = 0.0,
        depth: int = 2,
        width: int = 128,
        activation: str = "relu",
    ) -> None:
        super().__init__(activation, dropout)
        require_count(0, depth=depth)
        require_count(width=width)
        layers: list[nn.Module] = [nn.Flatten()]
        fan_in = math.prod(in_shape)
        for _ in range(depth):
            layers += hidden_layer(norm, fan_in, width, activation, dropout)
            fan_in = width
        layers.append(nn.Linear(fan_in, num_classes))
        self.layers = sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)
