"""Layer normalization family (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7), from scratch,
and where a model puts it.

Layers: :class:`BatchNorm1d`, :class:`BatchNorm2d`, :class:`LayerNorm`, :class:`GroupNorm`,
:class:`LocalResponseNorm` (same arguments, buffers and state_dict keys as their ``torch.nn``
namesakes) and weight normalization :class:`WeightNorm` (a parametrization W = g v / ||v||).

A model calls the hooks of a :class:`Normalization` while it is built; each option of the
``norm`` config group is a subclass that overrides the hooks it needs. The base class is
``norm=none``: every hook is the identity.
"""

from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from netopt.checks import require, require_count, require_nonnegative, require_positive
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


Dims = tuple[int, ...]


def _full_precision(x: Tensor) -> Tensor:
    """``x`` in float32 if it is a 16-bit float (the output of a layer under autocast): the norm layers
    take their statistics and give their output in float32, as torch's autocast runs its own."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _standardize(x: Tensor, dims: Dims, eps: float) -> Tensor:
    """z' = (z - mu) / sqrt(var + eps), mu and the biased var taken over ``dims``."""
    centered = x - x.mean(dims, keepdim=True)
    return centered * torch.rsqrt((centered * centered).mean(dims, keepdim=True) + eps)


def _affine(z: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    """y = gamma * z' + beta (either may be absent)."""
    if weight is not None:
        z = z * weight
    return z if bias is None else z + bias


class _Normalize(torch.autograd.Function):
    """y = gamma * (x - mu) / sqrt(var + eps) + beta over ``dims``; returns (y, mu, var), mu and var
    without gradient (kept for batch norm's running estimates).

    Forward and backward are closed forms with few full-size temporaries (a chain of autograd ops
    allocates one per step). With xhat = (x - mu) / sigma and g_y = gamma * dL/dy per group,
    dL/dx = (g_y - mean(g_y) - xhat * mean(g_y * xhat)) / sigma,
    dL/dgamma = sum dL/dy * xhat, dL/dbeta = sum dL/dy. A backward that builds a graph (double
    backward, Hessian-vector products) differentiates the plain composition instead.
    """

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, weight: Tensor | None, bias: Tensor | None, dims: Dims, eps: float
    ) -> tuple[Tensor, Tensor, Tensor]:
        mean = x.mean(dims, keepdim=True)
        y = torch.sub(x, mean)  # the output, first a scratch for the variance
        var = y.square_().mean(dims, keepdim=True)
        rstd = torch.rsqrt(var + eps)
        torch.sub(x, mean, out=y).mul_(rstd if weight is None else rstd * weight)
        if bias is not None:
            y.add_(bias)
        ctx.save_for_backward(x, weight, bias, mean, rstd)
        ctx.dims, ctx.eps = dims, eps
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    def backward(ctx: Any, grad: Tensor, _mean: Tensor, _var: Tensor) -> tuple[Tensor | None, ...]:
        x, weight, bias, mean, rstd = ctx.saved_tensors
        needed, dims = ctx.needs_input_grad[:3], ctx.dims
        if torch.is_grad_enabled():
            inputs = [t for t, need in zip((x, weight, bias), needed, strict=True) if need]
            y = _affine(_standardize(x, dims, ctx.eps), weight, bias)
            grads = iter(torch.autograd.grad(y, inputs, grad, create_graph=True))
            return *(next(grads) if need else None for need in needed), None, None
        xhat = torch.sub(x, mean).mul_(rstd)
        buffer = grad * xhat
        grad_weight = buffer.sum_to_size(weight.shape) if needed[1] else None
        grad_bias = grad.sum_to_size(bias.shape) if needed[2] else None
        if not needed[0]:
            return None, grad_weight, grad_bias, None, None
        if weight is not None:
            buffer.mul_(weight)
        projection = buffer.mean(dims, keepdim=True)  # mean(g_y * xhat)
        grad_y = buffer.copy_(grad) if weight is None else torch.mul(grad, weight, out=buffer)
        grad_y.sub_(grad_y.mean(dims, keepdim=True)).addcmul_(xhat, projection, value=-1).mul_(rstd)
        return grad_y, grad_weight, grad_bias, None, None


class _SyncNormalize(torch.autograd.Function):
    """Batch normalization over the global batch of a data-parallel run: :class:`_Normalize` over
    ``dims`` of the concatenation of every process's ``x``; returns (y, mu, var, count), the last
    three without gradient.

    Forward: each process's count n_r, mean mu_r and M2_r = sum (x - mu_r)^2 are all-gathered and
    combined exactly (Chan et al. 1979): n = sum n_r, mu = sum n_r mu_r / n,
    var = (sum M2_r + sum n_r (mu_r - mu)^2) / n. Backward: the formula of :class:`_Normalize`, its
    two batch means mean(g_y) and mean(g_y * xhat) taken over the global batch (one all-reduce of
    their sums); dL/dgamma and dL/dbeta are this process's sums (DDP sums them over processes).
    """

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, weight: Tensor | None, bias: Tensor | None, dims: Dims, eps: float
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        local_mean = x.mean(dims, keepdim=True)
        y = torch.sub(x, local_mean)  # the output, first a scratch for M2
        m2 = y.square_().sum(dims, keepdim=True)
        local = torch.cat([torch.full_like(local_mean, x.numel() / x.shape[1]), local_mean, m2])
        gathered = [torch.empty_like(local) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, local)
        counts, means, m2s = torch.stack(gathered).split(1, dim=1)  # each (processes, 1, C, ...)
        count = counts.sum(0)
        mean = (counts * means).sum(0) / count
        var = (m2s.sum(0) + (counts * (means - mean).square()).sum(0)) / count
        rstd = torch.rsqrt(var + eps)
        torch.sub(x, mean, out=y).mul_(rstd if weight is None else rstd * weight)
        if bias is not None:
            y.add_(bias)
        ctx.save_for_backward(x, weight, mean, rstd, count)
        ctx.dims, ctx.bias_shape = dims, None if bias is None else bias.shape
        ctx.mark_non_differentiable(mean, var, count)
        return y, mean, var, count

    @staticmethod
    def backward(ctx: Any, grad: Tensor, *_stats: Tensor) -> tuple[Tensor | None, ...]:
        if torch.is_grad_enabled():
            raise RuntimeError("synchronized batch norm has no double backward (norm.sync=false has)")
        x, weight, mean, rstd, count = ctx.saved_tensors
        needed, dims = ctx.needs_input_grad[:3], ctx.dims
        xhat = torch.sub(x, mean).mul_(rstd)
        grad_weight = (grad * xhat).sum_to_size(weight.shape) if needed[1] else None
        grad_bias = grad.sum_to_size(ctx.bias_shape) if needed[2] else None
        if not needed[0]:
            return None, grad_weight, grad_bias, None, None
        grad_y = grad if weight is None else grad * weight
        sums = torch.cat([grad_y.sum(dims, keepdim=True), (grad_y * xhat).sum(dims, keepdim=True)])
        dist.all_reduce(sums)
        center, projection = (sums / count).split(1)
        grad_x = (grad_y - center).addcmul_(xhat, projection, value=-1).mul_(rstd)
        return grad_x, grad_weight, grad_bias, None, None


def synchronized() -> bool:
    """Whether this process is one of several of a data-parallel run (torch's default process group)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _standardize_affine(
    x: Tensor, mean: Tensor, var: Tensor, eps: float, weight: Tensor | None, bias: Tensor | None
) -> Tensor:
    """gamma * (x - mu) / sqrt(var + eps) + beta for fixed per-channel mu, var (batch norm in
    evaluation), computed as x * scale + shift with scale = gamma / sqrt(var + eps): one pass over x."""
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
    state_dict keys are those of PyTorch's ``BatchNorm1d``/``2d``; ``sync=True`` (keyword only) takes
    the training statistics over the global batch of a data-parallel run (every process's shard, see
    :class:`_SyncNormalize`), as torch's ``SyncBatchNorm``; a single process has nothing to sync.
    """

    input_dims: tuple[int, ...]
    running_mean: Tensor | None
    running_var: Tensor | None
    num_batches_tracked: Tensor | None

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        sync: bool = False,
    ) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum, self.sync = num_features, eps, momentum, sync
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
        x, shape = _full_precision(x), _channel_shape(x)
        weight = None if self.weight is None else self.weight.view(shape)
        bias = None if self.bias is None else self.bias.view(shape)
        if self.training or self.running_mean is None:
            dims = (0, *range(2, x.dim()))
            count: int | Tensor = x.numel() // x.shape[1]
            if self.training and self.sync and synchronized():
                y, mean, var, count = _SyncNormalize.apply(x, weight, bias, dims, self.eps)
            else:
                y, mean, var = _Normalize.apply(x, weight, bias, dims, self.eps)
            if self.training and self.running_mean is not None:
                self._track(mean.flatten(), var.flatten(), count)
            return y
        assert self.running_var is not None  # tracked with running_mean
        mean, var = self.running_mean.view(shape), self.running_var.view(shape)
        return _standardize_affine(x, mean, var, self.eps, weight, bias)

    @torch.no_grad()
    def _track(self, mean: Tensor, var: Tensor, count: int | Tensor) -> None:
        if isinstance(count, int) and count < 2:  # a global count (a tensor) has a sample per process
            raise ValueError(f"batch norm needs more than 1 value per channel in training, got {count}")
        assert self.running_mean is not None and self.running_var is not None  # tracking running stats
        assert self.num_batches_tracked is not None
        self.num_batches_tracked += 1
        # the cumulative average's 1 / t stays on the device (no synchronization)
        momentum = self.momentum if self.momentum is not None else 1.0 / self.num_batches_tracked
        self.running_mean.lerp_(mean, momentum)
        correction = count / (count - 1) if isinstance(count, int) else (count / (count - 1)).flatten()
        self.running_var.lerp_(var * correction, momentum)

    def extra_repr(self) -> str:
        sync = ", sync=True" if self.sync else ""
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}{sync}"


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs, per feature C."""

    input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) inputs, per channel over the batch and all positions."""

    input_dims = (4,)


class LayerNorm(NormLayer):
    """Layer normalization: the statistics of all neurons of one sample's layer.

    z' = (z - mu) / sqrt(var + eps) over the last ``len(normalized_shape)`` dims (biased variance);
    y = gamma * z' + beta, elementwise. Same arguments and state_dict as PyTorch's ``LayerNorm``.
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
        dims = tuple(range(-len(self.normalized_shape), 0))
        return _Normalize.apply(_full_precision(x), self.weight, self.bias, dims, self.eps)[0]

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"


class GroupNorm(NormLayer):
    """Group normalization: layer normalization within each of ``num_groups`` groups of channels.

    The statistics of one sample over the channels of a group and all positions; y = gamma * z' + beta
    per channel. Same arguments and state_dict as PyTorch's ``GroupNorm``; ``num_groups=1`` is layer
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
        groups = _full_precision(x).reshape(
            x.shape[0], self.num_groups, self.num_channels // self.num_groups, -1
        )
        shape = (1, self.num_groups, -1, 1)  # per channel of each group
        weight = None if self.weight is None else self.weight.view(shape)
        bias = None if self.bias is None else self.bias.view(shape)
        return _Normalize.apply(groups, weight, bias, (2, 3), self.eps)[0].view(x.shape)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class LocalResponseNorm(nn.Module):
    """Local response normalization across ``size`` adjacent channels, without mean subtraction.

    b_c = a_c / (k + alpha / n * sum_{c'} a_{c'}^2)^beta, the sum over channels
    c - n//2 ... c + (n-1)//2 (zeros beyond the edges), n = ``size``. Same arguments as
    PyTorch's ``LocalResponseNorm``; accepts (N, C) as well as (N, C, ...).
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
    """``norm=batch``: batch normalization after every affine map (BatchNorm2d on conv features).

    ``sync``: in a data-parallel run (``trainer.strategy=ddp``) the statistics of the global batch,
    all-reduced over the processes, so the run normalizes as a single process would; otherwise
    each process normalizes its own shard (cheaper, but the statistics then depend on the number
    of processes).
    """

    def __init__(self, eps: float = 1e-5, momentum: float = 0.1, sync: bool = False) -> None:
        require_positive(eps=eps)
        require(0 < momentum <= 1, "momentum", "in (0, 1]", momentum)
        self.eps, self.momentum, self.sync = eps, momentum, sync

    def after_affine(self, num_features: int, spatial: bool) -> nn.Module:
        layer = BatchNorm2d if spatial else BatchNorm1d
        return layer(num_features, eps=self.eps, momentum=self.momentum, sync=self.sync)


class LayerNormalization(Normalization):
    """``norm=layer``: layer normalization after every affine map.

    On conv features the statistics run over all of (C, H, W) and the affine map is per channel
    (``GroupNorm`` with one group), since the spatial size is not known when the model is built.
    """

    def __init__(self, eps: float = 1e-5) -> None:
        require_positive(eps=eps)
        self.eps = eps

    def after_affine(self, num_features: int, spatial: bool) -> nn.Module:
        return GroupNorm(1, num_features, self.eps) if spatial else LayerNorm(num_features, self.eps)


class GroupNormalization(Normalization):
    """``norm=group``: group normalization after every affine map; ``num_groups`` must divide each width."""

    def __init__(self, num_groups: int = 8, eps: float = 1e-5) -> None:
        require_count(num_groups=num_groups)
        require_positive(eps=eps)
        self.num_groups, self.eps = num_groups, eps

    def after_affine(self, num_features: int, spatial: bool) -> nn.Module:
        if num_features % self.num_groups:  # the key is the norm's, though the model asks
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
        require_count(size=size)
        require_nonnegative(alpha=alpha, beta=beta)
        require_positive(k=k)
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def after_activation(self, num_features: int, spatial: bool) -> nn.Module:
        return LocalResponseNorm(self.size, self.alpha, self.beta, self.k)
