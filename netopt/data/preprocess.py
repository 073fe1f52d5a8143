"""Input preprocessing fitted on the training split and applied unchanged to every split.

Each preprocessor is an ``nn.Module`` whose statistics are buffers, so they travel in the
checkpoint (``state_dict``) and to the device with the data. ``fit(x_train)`` computes them;
calling the module applies them. Statistics are per channel for images.
"""

import torch
from torch import Tensor, nn

from netopt.checks import require_positive

_PER_CHANNEL = (0, 2, 3)


class Preprocess(nn.Module):
    """No preprocessing (``preprocess=none``); the base of every preprocessor."""

    def fit(self, x: Tensor) -> "Preprocess":
        return self

    def forward(self, x: Tensor) -> Tensor:
        return x


class MinMax(Preprocess):
    """Min-max scaling per channel: x' = (x - min) / (max - min)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("low", torch.zeros(1, 1, 1, 1))
        self.register_buffer("span", torch.ones(1, 1, 1, 1))

    def fit(self, x: Tensor) -> "MinMax":
        low = x.amin(dim=_PER_CHANNEL, keepdim=True)
        self.low, self.span = low, (x.amax(dim=_PER_CHANNEL, keepdim=True) - low).clamp_min(1e-12)
        return self

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.low) / self.span


class Standardize(Preprocess):
    """Standardization per channel: x' = (x - mu) / sigma, sigma the population std (+ eps)."""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        require_positive(eps=eps)  # 0 divides constant pixels (the digits' borders) by zero
        self.eps = eps
        self.register_buffer("mean", torch.zeros(1, 1, 1, 1))
        self.register_buffer("std", torch.ones(1, 1, 1, 1))

    def fit(self, x: Tensor) -> "Standardize":
        std, mean = torch.std_mean(x, dim=_PER_CHANNEL, correction=0, keepdim=True)
        self.mean, self.std = mean, std + self.eps
        return self

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std
