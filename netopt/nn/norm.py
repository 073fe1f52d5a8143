"""Layer normalization family (SPEC section 7), from scratch, and where a model puts it.

Layers: :class:`BatchNorm1d`, :class:`BatchNorm2d`, :class:`LayerNorm`, :class:`GroupNorm`,
:class:`LocalResponseNorm` (same arguments, buffers and state_dict keys as their ``torch.nn``
namesakes) and weight normalization :class:`WeightNorm` (a parametrization W = g v / ||v||).

A model calls the hooks of a :class:`Normalization` while it is built; each option of the
``norm`` config group is a subclass that overrides the hooks it needs. The base class is
``norm=none``: every hook is the identity.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from netopt.errors import UserError


class Normalization:
    """No normalization (``norm=none``); the base of every normalization choice."""

    def wrap(self, layer: nn.Module) -> nn.Module:
        """Reparametrize an affine layer's weight (weight norm); the identity here."""
        return layer

    def after_affine(self, num_features: int, spatial: bool) -> nn.Module:
        """The layer between the affine map and the activation (batch, layer, group norm)."""
        return nn.Identity()

    def after_activation(self, num_features: int, spatial: bool) -> nn.Module:
        """The layer after the activation (local response norm)."""
        return nn.Identity()


def _moments(x: Tensor, dims: list[int]) -> tuple[Tensor, Tensor]:
    """Mean and biased variance of ``x`` over ``dims``, kept for broadcasting."""
    var, mean = torch.var_mean(x, dim=dims, correction=0, keepdim=True)
    return mean, var


def _standardize(x: Tensor, mean: Tensor, var: Tensor, eps: float) -> Tensor:
    """z' = (z - mu) / sqrt(var + eps)."""
    return (x - mean) * torch.rsqrt(var + eps)


def _standardize_affine(
    x: Tensor, mean: Tensor, var: Tensor, eps: float, weight: Tensor | None, bias: Tensor | None
) -> Tensor:
    """gamma * (x - mu) / sqrt(var + eps) + beta for per-channel gamma, beta, computed as
    x * scale + shift with per-channel scale = gamma / sqrt(var + eps): one pass over x."""
    scale = torch.rsqrt(var + eps)
    if weight is not None:
        scale = scale * weight
    shift = -mean * scale
    if bias is not None:
        shift = shift + bias
    return torch.addcmul(shift, x, scale)


def _channel_shape(x: Tensor) -> tuple[int, ...]:
    """The shape that broadcasts a per-channel vector (dim 1) over ``x``."""
    return (1, -1) + (1,) * (x.dim() - 2)


class NormLayer(nn.Module):
    """A layer that standardizes, then applies y = gamma * z' + beta (``weight`` gamma, ``bias`` beta).

    netopt.init starts every such layer at gamma = 1, beta = 0: the identity after standardizing.
    """


class _BatchNorm(NormLayer):
    """Batch normalization: z' = (z - mu_B) / sqrt(var_B + eps); y = gamma * z' + beta.

    mu_B and var_B (biased) are taken per channel over the mini-batch (and the spatial positions).
    In training the running estimates follow r = (1 - momentum) * r + momentum * stat, with the
    unbiased batch variance (as torch); ``momentum=None`` gives the cumulative average
    1 / num_batches_tracked. Evaluation uses the running estimates. Arguments, buffers and
    state_dict keys are those of ``torch.nn.BatchNorm1d``/``2d``.
    """

    input_dims: tuple[int, ...]

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = nn.Parameter(torch.ones(num_features)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_features)) if affine else None
        stats = track_running_stats
        self.register_buffer("running_mean", torch.zeros(num_features) if stats else None)
        self.register_buffer("running_var", torch.ones(num_features) if stats else None)
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long) if stats else None)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() not in self.input_dims:
            raise ValueError(f"{type(self).__name__} expects {self.input_dims}-dim input, got {x.dim()}")
        shape = _channel_shape(x)
        if self.training or self.running_mean is None:
            mean, var = _moments(x, [0, *range(2, x.dim())])
            if self.training and self.running_mean is not None:
                self._track(mean.flatten(), var.flatten(), x.numel() // x.shape[1])
        else:
            mean, var = self.running_mean.view(shape), self.running_var.view(shape)
        weight, bias = (self.weight.view(shape), self.bias.view(shape)) if self.affine else (None, None)
        return _standardize_affine(x, mean, var, self.eps, weight, bias)

    @torch.no_grad()
    def _track(self, mean: Tensor, var: Tensor, count: int) -> None:
        if count < 2:
            raise ValueError(f"batch norm needs more than 1 value per channel in training, got {count}")
        self.num_batches_tracked += 1
        momentum = self.momentum if self.momentum is not None else 1.0 / self.num_batches_tracked.item()
        self.running_mean.lerp_(mean, momentum)
        self.running_var.lerp_(var * (count / (count - 1)), momentum)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}"


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs, per feature C."""

    input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) inputs, per channel over the batch and all positions."""

    input_dims = (4,)


class LayerNorm(NormLayer):
    """Layer normalization: the statistics of all neurons of one sample's layer.

    z' = (z - mu) / sqrt(var + eps) over the last ``len(normalized_shape)`` dims (biased variance);
    y = gamma * z' + beta, elementwise. Same arguments and state_dict as ``torch.nn.LayerNorm``.
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        self.weight = nn.Parameter(torch.ones(shape)) if elementwise_affine else None
        self.bias = nn.Parameter(torch.zeros(shape)) if elementwise_affine and bias else None

    def forward(self, x: Tensor) -> Tensor:
        y = _standardize(x, *_moments(x, list(range(-len(self.normalized_shape), 0))), self.eps)
        if self.weight is not None:
            return torch.addcmul(self.bias, y, self.weight) if self.bias is not None else y * self.weight
        return y

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"


class GroupNorm(NormLayer):
    """Group normalization: layer normalization within each of ``num_groups`` groups of channels.

    The statistics of one sample over the channels of a group and all positions; y = gamma * z' + beta
    per channel. Same arguments and state_dict as ``torch.nn.GroupNorm``; ``num_groups=1`` is layer
    normalization over (C, H, W) with a per-channel affine map.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"num_channels={num_channels} is not divisible by num_groups={num_groups}")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        self.weight = nn.Parameter(torch.ones(num_channels)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_channels)) if affine else None

    def forward(self, x: Tensor) -> Tensor:
        mean, var = _moments(x.reshape(x.shape[0], self.num_groups, -1), [2])
        shape = (x.shape[0], -1) + (1,) * (x.dim() - 2)  # per sample and channel
        per_channel = [
            s.repeat_interleave(self.num_channels // self.num_groups, dim=1).view(shape) for s in (mean, var)
        ]
        channel = _channel_shape(x)
        weight, bias = (self.weight.view(channel), self.bias.view(channel)) if self.affine else (None, None)
        return _standardize_affine(x, *per_channel, self.eps, weight, bias)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class LocalResponseNorm(nn.Module):
    """Local response normalization across ``size`` adjacent channels, without mean subtraction.

    b_c = a_c / (k + alpha / n * sum_{c'} a_{c'}^2)^beta, the sum over channels
    c - n//2 ... c + (n-1)//2 (zeros beyond the edges), n = ``size``. Same arguments as
    ``torch.nn.LocalResponseNorm``; accepts (N, C) as well as (N, C, ...).
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: Tensor) -> Tensor:
        squares = (x * x).movedim(1, -1)
        padded = F.pad(squares, (self.size // 2, (self.size - 1) // 2))
        window_sum = padded.unfold(-1, self.size, 1).sum(-1).movedim(-1, 1)
        return x / (self.k + self.alpha / self.size * window_sum) ** self.beta

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


def _norm_except(v: Tensor, dim: int | None) -> Tensor:
    """||v|| over every dim but ``dim`` (kept for broadcasting); over all of v when ``dim`` is None."""
    if dim is None:
        return torch.linalg.vector_norm(v)
    return torch.linalg.vector_norm(v, dim=[d for d in range(v.dim()) if d != dim % v.dim()], keepdim=True)


class WeightNorm(nn.Module):
    """Weight normalization as a parametrization: W_i = g_i / ||v_i|| * v_i.

    Each slice i along ``dim`` (an output neuron or filter for ``dim=0``) gets its own length g_i
    and direction v_i. ``right_inverse`` splits a weight into (g = ||W||, v = W), so assigning a
    weight keeps it unchanged. Registered by :func:`weight_normalized`, it gives the state_dict
    keys of ``torch.nn.utils.parametrizations.weight_norm``: ``parametrizations.weight.original0``
    (g) and ``original1`` (v).
    """

    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, g: Tensor, v: Tensor) -> Tensor:
        return v * (g / _norm_except(v, self.dim))

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        return _norm_except(weight, self.dim), weight


def weight_normalized(layer: nn.Module, name: str = "weight", dim: int | None = 0) -> nn.Module:
    """Reparametrize ``layer.<name>`` in place as g v / ||v|| (see :class:`WeightNorm`); returns the layer."""
    parametrize.register_parametrization(layer, name, WeightNorm(dim), unsafe=True)
    return layer


class BatchNormalization(Normalization):
    """``norm=batch``: batch normalization after every affine map (BatchNorm2d on conv features)."""

    def __init__(self, eps: float = 1e-5, momentum: float = 0.1) -> None:
        self.eps, self.momentum = eps, momentum

    def after_affine(self, num_features: int, spatial: bool) -> nn.Module:
        layer = BatchNorm2d if spatial else BatchNorm1d
        return layer(num_features, eps=self.eps, momentum=self.momentum)


class LayerNormalization(Normalization):
    """``norm=layer``: layer normalization after every affine map.

    On conv features the statistics run over all of (C, H, W) and the affine map is per channel
    (``GroupNorm`` with one group), since the spatial size is not known when the model is built.
    """

    def __init__(self, eps: float = 1e-5) -> None:
        self.eps = eps

    def after_affine(self, num_features: int, spatial: bool) -> nn.Module:
        return GroupNorm(1, num_features, self.eps) if spatial else LayerNorm(num_features, self.eps)


class GroupNormalization(Normalization):
    """``norm=group``: group normalization after every affine map; ``num_groups`` must divide each width."""

    def __init__(self, num_groups: int = 8, eps: float = 1e-5) -> None:
        self.num_groups, self.eps = num_groups, eps

    def after_affine(self, num_features: int, spatial: bool) -> nn.Module:
        if num_features % self.num_groups:
            raise UserError(
                f"norm.num_groups={self.num_groups}: must divide every layer width, not {num_features}"
            )
        return GroupNorm(self.num_groups, num_features, self.eps)


class WeightNormalization(Normalization):
    """``norm=weight``: every Linear/Conv2d weight reparametrized as W = g v / ||v|| (per output unit)."""

    def wrap(self, layer: nn.Module) -> nn.Module:
        return weight_normalized(layer)


class LocalResponseNormalization(Normalization):
    """``norm=lrn``: local response normalization after every activation."""

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def after_activation(self, num_features: int, spatial: bool) -> nn.Module:
        return LocalResponseNorm(self.size, self.alpha, self.beta, self.k)
