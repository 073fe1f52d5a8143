"""netopt.init: target variances within sampling tolerance, orthogonality, every model weight set."""

import math

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from netopt import init
from netopt.errors import UserError
from netopt.models.cnn import CNN
from netopt.models.mlp import MLP
from netopt.models.resnet import ResNet
from netopt.models.rnn import RNN, LSTMCell
from netopt.nn import norm
from tests.helpers import compose_config

SHAPE = (300, 200)  # 60,000 draws
FAN_IN, FAN_OUT = 200, 300
NORMS = [
    norm.Normalization(),
    norm.BatchNormalization(),
    norm.LayerNormalization(),
    norm.GroupNormalization(4),
    norm.WeightNormalization(),
    norm.LocalResponseNormalization(),
]
MODELS = {
    "mlp": lambda n: MLP((1, 8, 8), 10, n, dropout=0.0, depth=3, width=32, activation="tanh"),
    "cnn": lambda n: CNN((1, 8, 8), 10, n, dropout=0.0, channels=(8, 16), hidden=32),
    "resnet": lambda n: ResNet((3, 8, 8), 10, n, dropout=0.0, widths=(8, 16), blocks=1),
    "rnn": lambda n: RNN((1, 8, 8), 10, n, dropout=0.0, rnn_dropout="variational", hidden=16, layers=2),
}


def _assert_variance(w: torch.Tensor, var: float, kurtosis: float) -> None:
    """Mean 0 and variance ``var`` within 5 standard errors (the variance's depends on the kurtosis)."""
    n = w.numel()
    assert abs(w.mean().item()) < 5 * math.sqrt(var / n)
    assert abs(w.var().item() - var) < 5 * var * math.sqrt((kurtosis - 1) / n)


GAUSSIAN, UNIFORM = 3.0, 1.8  # kurtosis


@pytest.mark.parametrize(
    ("fill", "var", "kurtosis"),
    [
        (lambda w: init.gaussian_(w, std=0.3), 0.09, GAUSSIAN),
        (lambda w: init.uniform_(w, -0.2, 0.2), 0.04 / 3, UNIFORM),
        (lambda w: init.xavier_normal_(w), 2 / (FAN_IN + FAN_OUT), GAUSSIAN),
        (lambda w: init.xavier_uniform_(w, gain=5 / 3), 25 / 9 * 2 / (FAN_IN + FAN_OUT), UNIFORM),
        (lambda w: init.he_normal_(w), 2 / FAN_IN, GAUSSIAN),
        (lambda w: init.he_uniform_(w), 2 / FAN_IN, UNIFORM),
        (lambda w: init.he_normal_(w, mode="fan_out"), 2 / FAN_OUT, GAUSSIAN),
        (lambda w: init.he_uniform_(w, gain=1.0), 1 / FAN_IN, UNIFORM),
    ],
)
def test_empirical_variance_matches_the_target(fill, var, kurtosis):
    torch.manual_seed(0)
    _assert_variance(fill(torch.empty(SHAPE)), var, kurtosis)


def test_uniform_bounds():
    w = init.he_uniform_(torch.empty(SHAPE))
    assert w.abs().max() <= math.sqrt(6 / FAN_IN)
    assert w.abs().max() > 0.99 * math.sqrt(6 / FAN_IN)


def test_conv_fans_count_the_kernel_area():
    assert init.fans(torch.empty(16, 8, 3, 3)) == (72, 144)
    assert init.fans(torch.empty(4, 5)) == (5, 4)
    torch.manual_seed(0)
    _assert_variance(init.he_normal_(torch.empty(256, 64, 3, 3)), 2 / (64 * 9), GAUSSIAN)


@pytest.mark.parametrize("shape", [(50, 20), (20, 50), (30, 30), (16, 4, 3, 3)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape):
    w = init.orthogonal_(torch.empty(shape), gain=2.0).reshape(shape[0], -1) / 2.0
    small = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    torch.testing.assert_close(small, torch.eye(small.shape[0]), atol=1e-5, rtol=0)


def test_orthogonal_preserves_the_norm_of_back_propagated_errors():
    w = init.orthogonal_(torch.empty(40, 40))
    delta = torch.randn(40)
    torch.testing.assert_close(torch.linalg.vector_norm(w.T @ delta), torch.linalg.vector_norm(delta))


def test_generator_makes_draws_reproducible():
    draws = [
        init.orthogonal_(torch.empty(5, 4), generator=torch.Generator().manual_seed(3)) for _ in range(2)
    ]
    torch.testing.assert_close(*draws)


def test_gains_follow_torch_and_unknown_activation_is_a_user_error():
    for activation in ("relu", "tanh", "sigmoid", "leaky_relu", "selu"):
        assert init.gain(activation) == pytest.approx(nn.init.calculate_gain(activation))
    with pytest.raises(UserError, match="^activation=swish: must be one of"):
        init.gain("swish")


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("normalization", NORMS, ids=lambda n: type(n).__name__)
def test_every_parameter_of_every_model_is_set_by_netopt(model, normalization):
    net = MODELS[model](normalization)
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(float("nan"))
    init.Orthogonal(bias=0.1)(net, **net.init_arguments())
    for name, p in net.named_parameters():
        assert not p.isnan().any(), name
    for module in net.modules():
        if isinstance(module, norm.NormLayer):
            assert (module.weight == 1).all() and (module.bias == 0).all()
        elif isinstance(module, nn.Linear | nn.Conv2d) and module.bias is not None:
            assert (module.bias == 0.1).all()


def test_model_weights_follow_the_layer_sizes_and_activation():
    torch.manual_seed(0)
    net = MLP((1, 20, 20), 10, norm.Normalization(), dropout=0.0, depth=2, width=300, activation="tanh")
    init.HeNormal()(net, **net.init_arguments())
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    for layer in linears:
        _assert_variance(layer.weight, (5 / 3) ** 2 / layer.in_features, GAUSSIAN)
        assert (layer.bias == 0).all()
    init.XavierUniform()(net, **net.init_arguments())  # gain 1 by default, as in the chapter
    _assert_variance(linears[0].weight, 2 / (400 + 300), UNIFORM)
    init.XavierUniform(gain=None)(net, **net.init_arguments())  # the activation's gain
    _assert_variance(linears[0].weight, (5 / 3) ** 2 * 2 / (400 + 300), UNIFORM)


def test_weight_norm_starts_at_the_drawn_weight():
    torch.manual_seed(0)
    net = MLP((1, 20, 20), 10, norm.WeightNormalization(), dropout=0.0, depth=1, width=300)
    init.HeNormal()(net, **net.init_arguments())
    layer = net.layers[1]
    _assert_variance(layer.weight.detach(), 2 / 400, GAUSSIAN)
    g = layer.parametrizations.weight.original0
    torch.testing.assert_close(g.flatten(), layer.weight.detach().norm(dim=1))


def test_recurrent_weights_are_initialized_gate_by_gate():
    cell = LSTMCell(12, 16, norm.Normalization())
    init.Orthogonal(gain=1.0)(cell, gates={cell.input: 4, cell.recurrent: 4})
    for gate in cell.recurrent.weight.detach().chunk(4):
        torch.testing.assert_close(gate.T @ gate, torch.eye(16), atol=1e-5, rtol=0)
    torch.manual_seed(0)
    big = LSTMCell(300, 300, norm.Normalization())
    init.XavierNormal()(big, gates={big.input: 4, big.recurrent: 4})
    _assert_variance(big.input.weight.detach(), 2 / 600, GAUSSIAN)  # fan-out of one gate, not 4 * 300


def _pair() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    source = MLP((1, 8, 8), 10, norm.BatchNormalization(), dropout=0.0, depth=2, width=16)
    target = MLP((1, 8, 8), 3, norm.BatchNormalization(), dropout=0.0, depth=2, width=16)
    return source, target


@pytest.mark.parametrize("runner_format", [True, False])
def test_pretrained_loads_matching_weights_and_reports_the_rest(tmp_path, runner_format):
    source, target = _pair()
    source.extra = nn.Linear(2, 2)  # a key the target does not have
    path = tmp_path / "checkpoint.pt"
    state = source.state_dict()
    torch.save({"model": state, "epoch": 3} if runner_format else state, path)
    with pytest.raises(
        UserError, match="does not fit the model: 2 unexpected .* 2 mismatched .*init.strict=false"
    ):
        init.Pretrained(path=str(path))(target)
    loader = init.Pretrained(path=str(path), strict=False)
    loader(target)
    torch.testing.assert_close(target.layers[1].weight, source.layers[1].weight)
    torch.testing.assert_close(target.layers[2].running_mean, source.layers[2].running_mean)
    assert loader.report == {
        "missing": [],
        "unexpected": ["extra.weight", "extra.bias"],
        "mismatched": [f"layers.{len(target.layers) - 1}.weight", f"layers.{len(target.layers) - 1}.bias"],
    }
    assert not target.layers[-1].weight.isnan().any()  # the new head comes from the fallback initializer


def test_pretrained_reports_missing_keys(tmp_path):
    source, target = _pair()
    state = source.state_dict()
    del state["layers.1.bias"]
    torch.save(state, tmp_path / "c.pt")
    loader = init.Pretrained(path=str(tmp_path / "c.pt"), strict=False)
    loader(target)
    assert loader.report["missing"] == ["layers.1.bias"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no checkpoint at"),
        (b"not a checkpoint", "not a readable checkpoint"),
        ({"a": 1}, "no state_dict"),
    ],
)
def test_pretrained_bad_checkpoint_is_a_user_error_naming_init_path(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(UserError, match=f"^init.path.*{message}"):
        init.Pretrained(path=str(path))(MODELS["mlp"](norm.Normalization()))


@pytest.mark.parametrize(
    ("option", "cls"),
    [
        ("gaussian", init.Gaussian),
        ("uniform", init.Uniform),
        ("constant", init.Constant),
        ("xavier_normal", init.XavierNormal),
        ("xavier_uniform", init.XavierUniform),
        ("he_normal", init.HeNormal),
        ("he_uniform", init.HeUniform),
        ("orthogonal", init.Orthogonal),
        ("pretrained", init.Pretrained),
    ],
)
def test_init_options_compose_and_instantiate(option, cls):
    cfg = compose_config(f"init={option}", *(["init.path=ckpt.pt"] if option == "pretrained" else []))
    initializer = instantiate(cfg.init)
    assert type(initializer) is cls
    if option == "pretrained":
        assert type(initializer.fallback) is init.HeUniform
    else:
        initializer(MODELS["cnn"](norm.Normalization()))
