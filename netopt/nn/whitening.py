"""Patch whitening of a network's first convolution (Jordan's airbench for CIFAR-10), fitted on
training images.

With mu the mean and Sigma = U Lambda U^T the covariance of the k x k patches (C k^2 pixels each)
of the training images, the first convolution's filters become the whitening directions and their
negations,

    w_{2i} = u_i / sqrt(lambda_i + eps),   w_{2i+1} = -w_{2i},   b = -w . mu,

the i-th principal direction of the patches (largest variance first, the PCA whitening of
:class:`netopt.data.whiten.PCAWhiten`), so the layer's outputs are the decorrelated, unit-variance
components of every patch (covariance ~ I), each with both signs so that a ReLU after it keeps the
information. The filters stay fixed (``requires_grad=False``); the bias trains. Channels beyond
``2 C k^2`` keep their initialization (fixed too).
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from netopt.data.whiten import PCAWhiten


def patches(x: Tensor, kernel_size: int, padding: int) -> Tensor:
    """The ``(N L, C k^2)`` k x k patches of ``x`` (N, C, H, W), in the order a convolution weighs them."""
    columns = F.unfold(x, kernel_size, padding=padding)  # (N, C k^2, L)
    return columns.transpose(1, 2).flatten(0, 1)


@torch.no_grad()
def whiten_patches_(conv: nn.Conv2d, x: Tensor, eps: float = 1e-2) -> nn.Conv2d:
    """Set ``conv``'s filters to the whitening directions of ``x``'s patches and their negations
    (module docstring) and freeze them; ``conv``'s padding enters the patches as it enters the
    convolution (the zeros at the border). Returns ``conv``."""
    kernel, padding = conv.kernel_size[0], conv.padding[0]
    assert isinstance(padding, int)  # an int padding (not "same"), as netopt's models build
    data = patches(x.float(), kernel, padding)
    pca = PCAWhiten(eps=eps).fit(data)  # x' = (x - mu) W: the columns of W are u_i / sqrt(lambda_i + eps)
    directions = pca.matrix.T  # (C k^2, C k^2), largest variance first
    signed = torch.stack([directions, -directions], 1).flatten(0, 1)  # w_0, -w_0, w_1, -w_1, ...
    used = min(conv.out_channels, len(signed))
    conv.weight[:used] = signed[:used].reshape(used, *conv.weight.shape[1:]).to(conv.weight)
    if conv.bias is not None:
        conv.bias[:used] = -(signed[:used] @ pca.mean).to(conv.bias)
    conv.weight.requires_grad_(False)
    return conv
