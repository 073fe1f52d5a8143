"""Parameter initialization: tensor initializers and whole-model initializers (Qiu Xipeng, Neural
Networks and Deep Learning, ch. 7).

The tensor functions act in place, like PyTorch's initializers, and return the tensor:

- fixed variance: ``gaussian_`` N(mean, std^2) and ``uniform_`` U(a, b);
- Xavier: var = gain^2 * 2 / (M_in + M_out); uniform bound r = gain * sqrt(6 / (M_in + M_out));
- He (Kaiming): var = gain^2 / M, M = M_in (or M_out); with the ReLU gain sqrt(2) this is the
  chapter's var = 2 / M_in and r = sqrt(6 / M_in);
- Dirac (identity-like, for convolutions): ``dirac_`` sets filter i of a kernel (O, I, kh, kw) to
  pass input channel i through unchanged, w[i, j] = [i = j] delta(centre), for i < min(O, I);
- orthogonal: Q of the QR decomposition of a Gaussian matrix, sign-fixed by diag(R), times gain,
  so W^T W = I (or W W^T = I for wide matrices) and ||W^T delta|| = ||delta||;
- constant.

M_in / M_out of a conv kernel is channels times kernel area. Gains follow PyTorch
(PyTorch's ``calculate_gain``): tanh 5/3, sigmoid 1, ReLU sqrt(2). The chapter's Xavier table
uses gain 1 for tanh and gain 4 for the logistic function instead; pass ``gain=`` to get it.

A model initializer (the ``init`` config group) is a callable ``init(model, gain, gates)``: every
weight matrix or kernel gets the chosen method with the given ``gain`` (the model's activation's, see
:meth:`netopt.models.Model.init_arguments`) unless the initializer fixes its own; biases get the
constant ``bias``; normalization layers (:class:`netopt.nn.norm.NormLayer`) start as gamma = 1,
beta = 0. Weights under a parametrization (weight norm) are set through it, so W = g v / ||v||
starts as the drawn matrix. A module whose weight stacks k gates along dim 0 (an LSTM cell) is
given in ``gates`` with its k; each block is then initialized as its own matrix, with fan-out rows / k.
Xavier's gain defaults to 1, as in the chapter and torch; the activation's gain is one override away
(``init.gain=null``).
"""

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from netopt.checks import require, require_choice, require_positive
from netopt.errors import UserError
from netopt.files import read_checkpoint
from netopt.nn.norm import NormLayer

log = logging.getLogger(__name__)
Generator = torch.Generator | None

_RELU_GAIN = math.sqrt(2.0)
_GAINS = {
    "linear": 1.0,
    "identity": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": _RELU_GAIN,
    "leaky_relu": math.sqrt(2.0 / (1.0 + 0.01**2)),
    "selu": 0.75,
    # ReLU-like activations without an exact gain: the ReLU one is the usual approximation.
    "elu": _RELU_GAIN,
    "gelu": _RELU_GAIN,
    "silu": _RELU_GAIN,
}


#: The largest float32, the type of every weight: a larger value cannot be written into one.
FLOAT32_MAX = torch.finfo(torch.float32).max


def representable(value: float) -> bool:
    """Whether ``value`` is a number a float32 weight can hold (finite, at most :data:`FLOAT32_MAX`)."""
    return isinstance(value, (int, float)) and math.isfinite(value) and abs(value) <= FLOAT32_MAX


def require_representable(**values: float) -> None:
    """Every given value is a number a float32 weight can hold (not NaN, inf or beyond float32)."""
    for key, value in values.items():
        require(representable(value), key, f"a finite number of size at most {FLOAT32_MAX:.3g}", value)


def gain(activation: str) -> float:
    """The recommended gain of an activation, as PyTorch's ``calculate_gain`` gives it."""
    require_choice("activation", activation, tuple(_GAINS))
    return _GAINS[activation]


def fans(tensor: Tensor) -> tuple[int, int]:
    """(M_in, M_out) of a weight: (in, out) features of a matrix, times the kernel area for a conv."""
    if tensor.dim() < 2:
        raise ValueError(f"fan-in and fan-out need at least 2 dims, got shape {tuple(tensor.shape)}")
    receptive_field = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with a fixed value."""
    with torch.no_grad():
        return tensor.fill_(val)


def gaussian_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Generator = None) -> Tensor:
    """Fixed-variance Gaussian initialization: w ~ N(mean, std^2)."""
    with torch.no_grad():
        return tensor.normal_(mean, std, generator=generator)


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Generator = None) -> Tensor:
    """Fixed-variance uniform initialization: w ~ U(a, b) (the chapter's U(-r, r) is a=-r, b=r)."""
    with torch.no_grad():
        return tensor.uniform_(a, b, generator=generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Generator = None) -> Tensor:
    """Xavier (Glorot) Gaussian: w ~ N(0, gain^2 * 2 / (M_in + M_out))."""
    fan_in, fan_out = fans(tensor)
    return gaussian_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Generator = None) -> Tensor:
    """Xavier (Glorot) uniform: w ~ U(-r, r), r = gain * sqrt(6 / (M_in + M_out))."""
    fan_in, fan_out = fans(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def _he_fan(tensor: Tensor, mode: str) -> int:
    fan_in, fan_out = fans(tensor)
    return {"fan_in": fan_in, "fan_out": fan_out}[mode]


def he_normal_(
    tensor: Tensor, gain: float = _RELU_GAIN, mode: str = "fan_in", generator: Generator = None
) -> Tensor:
    """He (Kaiming) Gaussian: w ~ N(0, gain^2 / M); with the ReLU gain, var = 2 / M_in.

    ``mode`` picks M = M_in (keeps the forward variance) or M_out (keeps the backward variance).
    """
    return gaussian_(tensor, 0.0, gain / math.sqrt(_he_fan(tensor, mode)), generator)


def he_uniform_(
    tensor: Tensor, gain: float = _RELU_GAIN, mode: str = "fan_in", generator: Generator = None
) -> Tensor:
    """He (Kaiming) uniform: w ~ U(-r, r), r = gain * sqrt(3 / M); with the ReLU gain, sqrt(6 / M_in)."""
    bound = gain * math.sqrt(3.0 / _he_fan(tensor, mode))
    return uniform_(tensor, -bound, bound, generator)


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator: Generator = None) -> Tensor:
    """Orthogonal initialization: W = gain * Q, Q from the QR decomposition of a Gaussian matrix.

    A kernel is viewed as a matrix (out, in * kernel area). Q's columns are sign-fixed by diag(R) so
    that Q is uniformly (Haar) distributed; a wide matrix is drawn transposed, so its rows are
    orthonormal instead of its columns.
    """
    rows, cols = tensor.shape[0], tensor.numel() // tensor.shape[0]
    gaussian = torch.randn(max(rows, cols), min(rows, cols), generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(gaussian)
    q = q * torch.sign(torch.diagonal(r))
    if rows < cols:
        q = q.T
    with torch.no_grad():
        return tensor.copy_((gain * q).reshape(tensor.shape))


class Initializer:
    """Initialize a whole model in place (``init=<method>``); subclasses set the weight method.

    Weights (tensors of 2 or more dims) get :meth:`weight_` with the fixed ``gain`` or else the one
    passed in (the activation's); biases get ``bias``; normalization layers get gamma = 1, beta = 0.
    """

    def __init__(self, bias: float = 0.0, gain: float | None = None) -> None:
        require(
            gain is None or (representable(gain) and gain > 0),
            "gain",
            f"> 0 and at most {FLOAT32_MAX:.3g} (or null: the activation's gain)",
            gain,
        )
        require_representable(bias=bias)
        self.bias = bias
        self.gain = gain

    def weight_(self, tensor: Tensor, gain: float) -> None:
        raise NotImplementedError

    def __call__(
        self, model: nn.Module, gain: float = 1.0, gates: Mapping[nn.Module, int] | None = None
    ) -> None:
        """Initialize every parameter of ``model``; ``gates`` maps gated modules to their gate count."""
        weight_gain = self.gain if self.gain is not None else gain
        with torch.no_grad():
            for module in model.modules():
                if not isinstance(module, parametrize.ParametrizationList):
                    self._module(module, weight_gain, (gates or {}).get(module, 1))

    def _module(self, module: nn.Module, weight_gain: float, gates: int) -> None:
        for name, param in module.named_parameters(recurse=False):
            if isinstance(module, NormLayer):
                param.fill_(1.0 if name == "weight" else 0.0)
            elif param.dim() >= 2:
                self._weight(param, weight_gain, gates)
            else:
                param.fill_(self.bias)
        if parametrize.is_parametrized(module):
            assert isinstance(module.parametrizations, nn.ModuleDict)  # what is_parametrized checked
            for name in module.parametrizations:
                weight = torch.empty_like(getattr(module, name))
                self._weight(weight, weight_gain, gates)
                setattr(module, name, weight)

    def _weight(self, tensor: Tensor, weight_gain: float, gates: int) -> None:
        for block in tensor.chunk(gates, dim=0):
            self.weight_(block, weight_gain)


class Gaussian(Initializer):
    """``init=gaussian``: every weight ~ N(0, std^2), whatever the layer size (pair with normalization)."""

    def __init__(self, std: float = 0.01, bias: float = 0.0) -> None:
        super().__init__(bias)
        require_positive(std=std)
        self.std = std

    def weight_(self, tensor: Tensor, gain: float) -> None:
        gaussian_(tensor, 0.0, self.std)


class Uniform(Initializer):
    """``init=uniform``: every weight ~ U(-r, r), whatever the layer size (pair with normalization)."""

    def __init__(self, bound: float = 0.05, bias: float = 0.0) -> None:
        super().__init__(bias)
        require_positive(bound=bound)
        self.bound = bound

    def weight_(self, tensor: Tensor, gain: float) -> None:
        uniform_(tensor, -self.bound, self.bound)


class Constant(Initializer):
    """``init=constant``: every weight is ``value`` (breaks no symmetry: a baseline to show why not)."""

    def __init__(self, value: float = 0.0, bias: float = 0.0) -> None:
        super().__init__(bias)
        require_representable(value=value)
        self.value = value

    def weight_(self, tensor: Tensor, gain: float) -> None:
        constant_(tensor, self.value)


class XavierNormal(Initializer):
    """``init=xavier_normal``: :func:`xavier_normal_` on every weight, gain 1 unless told otherwise."""

    def __init__(self, bias: float = 0.0, gain: float | None = 1.0) -> None:
        super().__init__(bias, gain)

    def weight_(self, tensor: Tensor, gain: float) -> None:
        xavier_normal_(tensor, gain)


class XavierUniform(XavierNormal):
    """``init=xavier_uniform``: :func:`xavier_uniform_` on every weight, gain 1 unless told otherwise."""

    def weight_(self, tensor: Tensor, gain: float) -> None:
        xavier_uniform_(tensor, gain)


class HeNormal(Initializer):
    """``init=he_normal``: :func:`he_normal_` on every weight."""

    def __init__(
        self, mode: Literal["fan_in", "fan_out"] = "fan_in", bias: float = 0.0, gain: float | None = None
    ) -> None:
        super().__init__(bias, gain)
        require_choice("mode", mode, ("fan_in", "fan_out"))
        self.mode = mode

    def weight_(self, tensor: Tensor, gain: float) -> None:
        he_normal_(tensor, gain, self.mode)


class HeUniform(HeNormal):
    """``init=he_uniform``: :func:`he_uniform_` on every weight."""

    def weight_(self, tensor: Tensor, gain: float) -> None:
        he_uniform_(tensor, gain, self.mode)


class Orthogonal(Initializer):
    """``init=orthogonal``: :func:`orthogonal_` on every weight (per gate block in recurrent cells)."""

    def weight_(self, tensor: Tensor, gain: float) -> None:
        orthogonal_(tensor, gain)


def dirac_(tensor: Tensor) -> Tensor:
    """Filters i < min(O, I) of a conv kernel (O, I, kh, kw) become the identity on channel i:
    w[i, j, u, v] = 1 if j = i and (u, v) is the centre, else 0. The other filters are left as they are."""
    out_channels, in_channels, height, width = tensor.shape
    identity = min(out_channels, in_channels)
    tensor[:identity] = 0.0
    channel = torch.arange(identity)
    tensor[channel, channel, height // 2, width // 2] = 1.0
    return tensor


class Dirac:
    """``init=dirac``: ``base`` (None: He uniform) on every parameter, then :func:`dirac_` on every
    convolution's kernel (its first min(O, I) filters pass their channel through: airbench's
    identity-like initialization, so a deep conv stack starts near the identity plus ``base``'s
    random filters)."""

    def __init__(self, base: Initializer | None = None) -> None:
        self.base = base if base is not None else HeUniform()

    def __call__(
        self, model: nn.Module, gain: float = 1.0, gates: Mapping[nn.Module, int] | None = None
    ) -> None:
        self.base(model, gain, gates)
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, nn.Conv2d) and not parametrize.is_parametrized(module):
                    dirac_(module.weight)


class Pretrained:
    """``init=pretrained init.path=<checkpoint>``: weights from a checkpoint, for fine-tuning.

    The model is first initialized by ``fallback`` (so parameters the checkpoint lacks are still set
    by netopt), then every checkpoint tensor whose name and shape match is loaded. The checkpoint is
    the runner's (a dict whose ``model`` entry is the state_dict) or a bare state_dict, read with
    ``weights_only=True``. With ``strict`` (the default) a checkpoint that does not fit the model
    exactly is refused, naming its missing, unexpected and shape-mismatched keys; ``strict=False``
    loads what fits and says how many tensors it took. The keys are kept in ``self.report``.
    """

    def __init__(self, *, path: str, fallback: Initializer | None = None, strict: bool = True) -> None:
        self.path, self.strict = path, strict
        self.fallback = fallback if fallback is not None else HeUniform()
        self.report: dict[str, list[str]] = {}

    def _state_dict(self) -> dict[str, Tensor]:
        saved = read_checkpoint(Path(self.path).expanduser(), key="init.path")
        state = saved.get("model", saved) if isinstance(saved, dict) else None
        if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
            raise UserError(f"init.path: {self.path} holds no state_dict (tensors, or tensors under 'model')")
        return state

    def __call__(
        self, model: nn.Module, gain: float = 1.0, gates: Mapping[nn.Module, int] | None = None
    ) -> None:
        state = self._state_dict()
        self.fallback(model, gain, gates)
        own = model.state_dict()
        mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
        self.report = {
            "missing": [k for k in own if k not in state],
            "unexpected": [k for k in state if k not in own],
            "mismatched": mismatched,
        }
        loadable = {k: v for k, v in state.items() if k in own and k not in mismatched}
        problems = ", ".join(
            f"{len(keys)} {kind} ({_first(keys)})" for kind, keys in self.report.items() if keys
        )
        if problems and self.strict:
            raise UserError(
                f"init.path={self.path}: the checkpoint does not fit the model: {problems}; "
                f"init.strict=false loads the {len(loadable)} of {len(own)} tensors that fit"
            )
        model.load_state_dict(loadable, strict=False)
        log.info(
            "init.path=%s: loaded %d of the model's %d tensors%s",
            self.path,
            len(loadable),
            len(own),
            f"; {problems}" if problems else "",
        )


def _first(keys: list[str], shown: int = 3) -> str:
    return ", ".join(keys[:shown]) + (", ..." if len(keys) > shown else "")
