"""An autoencoder: an MLP encoder to a code of ``code`` values, an MLP decoder back to the input's shape,
trained to reconstruct its input (Hinton and Salakhutdinov, "Reducing the dimensionality of data with
neural networks", 2006; Qiu Xipeng, Neural Networks and Deep Learning, ch. 9).

    h = decode(encode(x)),   loss = 1/(N D) * sum_i ||h_i - x_i||^2   (:data:`netopt.tasks.RECONSTRUCTION`)

The encoder's hidden layers have ``widths`` units, the decoder's the same in reverse; each is affine map
-> normalization -> activation -> post-activation normalization -> dropout, as in the MLP
(:mod:`netopt.models.mlp`). The code and the output are affine (no activation): the inputs are
standardized, not in [0, 1].
"""

import math

from torch import Tensor, nn

from netopt.checks import require_count
from netopt.models import Model, sequential
from netopt.models.mlp import hidden_layer
from netopt.nn.norm import Normalization
from netopt.tasks import RECONSTRUCTION


class AutoEncoder(Model):
    """Encoder ``in -> widths -> code``, decoder ``code -> reversed(widths) -> in``; ``num_classes`` is
    not used (the output has the input's shape)."""

    task = RECONSTRUCTION

    def __init__(
        self,
        in_shape: tuple[int, ...],
        num_classes: int,
        norm: Normalization,
        dropout: float = 0.0,
        widths: tuple[int, ...] = (256,),
        code: int = 32,
        activation: str = "relu",
    ) -> None:
        super().__init__(activation, dropout)
        require_count(code=code)
        for width in widths:
            require_count(widths=width)
        size = math.prod(in_shape)

        def stack(sizes: list[int]) -> list[nn.Module]:  # a hidden layer from each size to the next
            pairs = zip(sizes[:-1], sizes[1:], strict=True)
            return [m for a, b in pairs for m in hidden_layer(norm, a, b, activation, dropout)]

        down, up = [size, *widths], [code, *reversed(widths)]
        encoder = [nn.Flatten(), *stack(down), nn.Linear(down[-1], code)]
        decoder = [*stack(up), nn.Linear(up[-1], size), nn.Unflatten(1, tuple(in_shape))]
        self.encoder, self.decoder = sequential(*encoder), sequential(*decoder)

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))
