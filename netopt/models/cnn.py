"""A small convolutional net for 8x8, 28x28 and 32x32 inputs.

Blocks of 3x3 convolution (padding 1) -> normalization -> activation -> post-activation
normalization -> 2x2 max pooling, one block per entry of ``channels``, then a hidden fully
connected layer (with dropout) and the linear classifier. ``pool_first=True`` pools right after the
convolution (convolution -> pooling -> normalization -> activation, the order of fast training
recipes such as Jordan's airbench for CIFAR-10), so normalization and activation run on a quarter of
the positions; without normalization and with a monotone activation such as ReLU it is the same
function, since max pooling commutes with a non-decreasing map. With the defaults an 8x8 digit becomes
64x2x2 features and a 28x28 image 64x7x7; a 32x32 image is best served by three blocks
(``model.channels=[32,64,128]``).

Two options of the fast recipes (airbench): ``whiten=true`` fixes the first convolution's filters to
the whitening directions of the training images' 3x3 patches and their negations
(:mod:`netopt.nn.whitening`; fitted by :meth:`CNN.fit_inputs` before training), and ``flip_tta=true``
evaluates (eval mode) every image and its mirror image and averages their logits,
``f(x) = (g(x) + g(flip(x))) / 2``: test-time augmentation by horizontal flips.
"""

import torch
from torch import Tensor, nn

from netopt.checks import require, require_count
from netopt.models import ACTIVATIONS, Model, dropout_layer, sequential
from netopt.nn.norm import Normalization
from netopt.nn.whitening import whiten_patches_


class CNN(Model):
    """One conv block per entry of ``channels`` (pooled last, or first with ``pool_first``), a hidden
    layer of ``hidden`` units, the classifier; optionally a fixed whitening first convolution and
    flip test-time augmentation (module docstring)."""

    def __init__(
        self,
        in_shape: tuple[int, ...],
        num_classes: int,
        norm: Normalization,
        dropout: float = 0.0,
        channels: tuple[int, ...] = (32, 64),
        hidden: int = 128,
        activation: str = "relu",
        pool_first: bool = False,
        whiten: bool = False,
        flip_tta: bool = False,
    ) -> None:
        super().__init__(activation, dropout)
        require_count(hidden=hidden, **{f"channels[{i}]": c for i, c in enumerate(channels)})
        in_channels, height, width = in_shape
        fits = max(min(height, width).bit_length() - 1, 0)  # halvings an input survives
        allowed = f"at most {fits} blocks (each pools 2x2) for a {height}x{width} input"
        require(len(channels) <= fits, "channels", allowed, list(channels))
        blocks: list[nn.Module] = []
        for out_channels in channels:
            conv = norm.wrap(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
            block = [
                norm.after_affine(out_channels, spatial=True),
                ACTIVATIONS[activation](),
                norm.after_activation(out_channels, spatial=True),
            ]
            blocks += [conv, nn.MaxPool2d(2), *block] if pool_first else [conv, *block, nn.MaxPool2d(2)]
            in_channels, height, width = out_channels, height // 2, width // 2
        self.features = sequential(*blocks)
        self.whiten, self.flip_tta = whiten, flip_tta
        self.classifier = sequential(
            nn.Flatten(),
            norm.wrap(nn.Linear(in_channels * height * width, hidden)),
            norm.after_affine(hidden, spatial=False),
            ACTIVATIONS[activation](),
            norm.after_activation(hidden, spatial=False),
            dropout_layer(dropout),
            nn.Linear(hidden, num_classes),
        )

    def fit_inputs(self, x: Tensor) -> None:
        if self.whiten:
            first = next(m for m in self.features.modules() if isinstance(m, nn.Conv2d))
            whiten_patches_(first, x)

    def forward(self, x: Tensor) -> Tensor:
        if self.flip_tta and not self.training:  # both views in one batch
            return self.classifier(self.features(torch.cat([x, x.flip(-1)]))).unflatten(0, (2, -1)).mean(0)
        return self.classifier(self.features(x))
