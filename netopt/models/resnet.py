"""A small residual network for 32x32 images (CIFAR), also fine on 8x8 and 28x28 inputs.

A 3x3 stem convolution, then one stage per entry of ``widths`` with ``blocks`` residual blocks each (the first
block of every stage after the first halves the resolution), global average pooling, dropout and the linear
classifier. A block computes y = act(F(x) + shortcut(x)) with F = conv -> norm -> act -> conv -> norm, the
shortcut a 1x1 convolution (+ norm) where the shape changes. Normalization is injected at the places the
chapter gives (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7; see
:class:`netopt.nn.norm.Normalization`); with the defaults this is a ResNet-14 (3 stages of 2 blocks, 16/32/64
channels).
"""

from torch import Tensor, nn

from netopt.checks import require_count
from netopt.models import ACTIVATIONS, Model, dropout_layer, sequential
from netopt.nn.norm import Normalization


def _conv_unit(norm: Normalization, c_in: int, c_out: int, kernel: int, stride: int) -> list[nn.Module]:
    """Convolution (wrapped by the normalization) followed by the normalization after the affine map."""
    conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2)
    return [norm.wrap(conv), norm.after_affine(c_out, spatial=True)]


class ResidualBlock(nn.Module):
    """y = act(conv-norm-act-conv-norm(x) + shortcut(x)), followed by any post-activation normalization;
    without ``shortcut``, y = act(conv-norm-act-conv-norm(x)): the same layers as a plain net."""

    def __init__(
        self, norm: Normalization, c_in: int, c_out: int, stride: int, activation: str, shortcut: bool = True
    ) -> None:
        super().__init__()
        self.residual = sequential(
            *_conv_unit(norm, c_in, c_out, 3, stride),
            ACTIVATIONS[activation](),
            norm.after_activation(c_out, spatial=True),
            *_conv_unit(norm, c_out, c_out, 3, 1),
        )
        reshaped = stride != 1 or c_in != c_out
        self.shortcut = (
            (sequential(*_conv_unit(norm, c_in, c_out, 1, stride)) if reshaped else nn.Identity())
            if shortcut
            else None
        )
        self.output = sequential(ACTIVATIONS[activation](), norm.after_activation(c_out, spatial=True))

    def forward(self, x: Tensor) -> Tensor:
        residual = self.residual(x)
        return self.output(residual if self.shortcut is None else residual + self.shortcut(x))


class ResNet(Model):
    """Residual network: stem, ``len(widths)`` stages of ``blocks`` residual blocks, pooling, classifier.

    ``shortcut=False`` drops every shortcut: the plain network of the same layers, whose training
    error grows with depth where the residual one's does not (He et al. 2016, Deep Residual Learning
    for Image Recognition; the chapter's residual connections).
    """

    def __init__(
        self,
        in_shape: tuple[int, ...],
        num_classes: int,
        norm: Normalization,
        dropout: float = 0.0,
        widths: tuple[int, ...] = (16, 32, 64),
        blocks: int = 2,
        activation: str = "relu",
        shortcut: bool = True,
    ) -> None:
        super().__init__(activation, dropout)
        require_count(blocks=blocks, **{f"widths[{i}]": w for i, w in enumerate(widths)})
        in_channels = in_shape[0]
        layers: list[nn.Module] = [
            *_conv_unit(norm, in_channels, widths[0], 3, 1),
            ACTIVATIONS[activation](),
            norm.after_activation(widths[0], spatial=True),
        ]
        in_channels = widths[0]
        for stage, width in enumerate(widths):
            for block in range(blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(ResidualBlock(norm, in_channels, width, stride, activation, shortcut))
                in_channels = width
        self.features = sequential(*layers)
        self.classifier = sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), dropout_layer(dropout), nn.Linear(in_channels, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
