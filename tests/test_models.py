"""The bundled models accept 8x8, 28x28 and 32x32 inputs and give one logit per class."""

import pytest
import torch

from netopt.errors import UserError
from netopt.models.cnn import CNN
from netopt.models.mlp import MLP
from netopt.nn.norm import Normalization


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize(
    "build",
    [
        lambda s: MLP(s, 10, Normalization(), dropout=0.0, depth=3, width=16, activation="tanh"),
        lambda s: CNN(s, 10, Normalization(), dropout=0.5, channels=(8, 16), hidden=32),
    ],
)
def test_logits_shape(build, shape):
    model = build(shape)
    assert model(torch.randn(5, *shape)).shape == (5, 10)


def test_cnn_rejects_too_many_blocks():
    with pytest.raises(UserError, match=r"^channels=\[4, 4, 4, 4\]: must be at most 3 blocks"):
        CNN((1, 8, 8), 10, Normalization(), dropout=0.0, channels=(4, 4, 4, 4))


def test_cnn_pooling_first_is_the_same_function_without_normalization():
    """Max pooling commutes with ReLU, so pooling right after the convolution changes nothing but
    the cost; with batch norm the layers between convolution and pooling run on pooled maps."""
    torch.manual_seed(0)
    last = CNN((1, 28, 28), 10, Normalization(), dropout=0.0, channels=(4, 8), hidden=16)
    first = CNN((1, 28, 28), 10, Normalization(), dropout=0.0, channels=(4, 8), hidden=16, pool_first=True)
    first.load_state_dict(last.state_dict())
    x = torch.randn(3, 1, 28, 28)
    torch.testing.assert_close(first(x), last(x), rtol=0, atol=0)
    kinds = [type(m).__name__ for m in first.features]
    assert kinds[:3] == ["Conv2d", "MaxPool2d", "ReLU"]


@pytest.mark.parametrize("option", ["mlp", "cnn", "resnet", "rnn"])
def test_each_model_owns_its_dropout_off_by_default(option):
    """``dropout`` is every model's own option (0: no dropout layer), settable from the config."""
    from netopt.components import make
    from netopt.nn.dropout import STOCHASTIC_LAYERS
    from tests.helpers import compose_config

    def drops(*overrides: str) -> list[float]:
        model = make(compose_config(f"model={option}", *overrides), "model", (3, 32, 32), 10, Normalization())
        return [m.p for m in model.modules() if isinstance(m, STOCHASTIC_LAYERS)]

    assert set(drops()) <= {0.0}
    assert drops("model.dropout=0.25") and set(drops("model.dropout=0.25")) == {0.25}
    with pytest.raises(UserError, match=r"^model.dropout=1.0: must be in \[0, 1\)"):
        drops("model.dropout=1.0")
