"""resnet and rnn: the LSTM matches torch.nn.LSTM, layer norm at every step, variational dropout,
residual blocks; both build from their configs and train from the command line."""

import pytest
import torch
from torch import Tensor, nn

from netopt.components import make, preflight
from netopt.errors import UserError
from netopt.models.resnet import ResidualBlock, ResNet
from netopt.models.rnn import RNN, LSTMCell
from netopt.nn import norm
from netopt.regularization.dropout import Dropout
from tests.helpers import compose_config, train

TOL = dict(rtol=1e-10, atol=1e-12)


def _copy_into_torch_lstm(cells: nn.ModuleList, lstm: nn.LSTM) -> None:
    with torch.no_grad():
        for layer, cell in enumerate(cells):
            getattr(lstm, f"weight_ih_l{layer}").copy_(cell.input.weight)
            getattr(lstm, f"weight_hh_l{layer}").copy_(cell.recurrent.weight)
            getattr(lstm, f"bias_ih_l{layer}").copy_(cell.input.bias)
            getattr(lstm, f"bias_hh_l{layer}").zero_()


def test_lstm_cell_step_matches_torch(float64):
    cell, theirs = LSTMCell(5, 7, norm.Normalization()), nn.LSTMCell(5, 7)
    with torch.no_grad():
        theirs.weight_ih.copy_(cell.input.weight), theirs.weight_hh.copy_(cell.recurrent.weight)
        theirs.bias_ih.copy_(cell.input.bias), theirs.bias_hh.zero_()
    x, h, c = (torch.randn(3, n, requires_grad=True) for n in (5, 7, 7))
    mine = cell(cell.input(x), (h, c))
    reference = theirs(x, (h, c))
    for a, b in zip(mine, reference, strict=True):
        torch.testing.assert_close(a, b, **TOL)
    grads_mine = torch.autograd.grad(sum(t.sum() for t in mine), (x, h, c, cell.recurrent.weight))
    grads_theirs = torch.autograd.grad(sum(t.sum() for t in reference), (x, h, c, theirs.weight_hh))
    for a, b in zip(grads_mine, grads_theirs, strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_rnn_reads_rows_like_a_stacked_torch_lstm(float64):
    model = RNN(
        (2, 6, 5), 4, norm.Normalization(), dropout=0.0, rnn_dropout="variational", hidden=8, layers=2
    )
    lstm = nn.LSTM(10, 8, num_layers=2, batch_first=True)
    _copy_into_torch_lstm(model.cells, lstm)
    x = torch.randn(3, 2, 6, 5)
    rows = x.permute(0, 2, 1, 3).reshape(3, 6, 10)  # row r holds both channels' pixels of row r
    last_hidden = lstm(rows)[0][:, -1]
    torch.testing.assert_close(model(x), model.classifier(last_hidden), **TOL)


def test_layer_norm_normalizes_the_net_input_at_every_step():
    model = RNN((1, 8, 8), 10, norm.LayerNormalization(), dropout=0.0, rnn_dropout="variational", hidden=16)
    cell = model.cells[0]
    assert isinstance(cell.net_input_norm, norm.LayerNorm)
    seen = []
    cell.net_input_norm.register_forward_hook(lambda module, inputs, output: seen.append(output.detach()))
    model(torch.randn(4, 1, 8, 8) * 5)
    assert len(seen) == 8
    for z in seen:
        torch.testing.assert_close(z.mean(dim=1), torch.zeros(4), atol=1e-5, rtol=0)
        torch.testing.assert_close(z.var(dim=1, correction=0), torch.ones(4), atol=1e-3, rtol=0)


def test_dropout_uses_one_mask_per_sequence_on_the_non_recurrent_input():
    model = RNN(
        (1, 8, 8), 10, norm.Normalization(), dropout=0.5, rnn_dropout="variational", hidden=16, layers=2
    )
    inputs = []
    for cell in model.cells:
        cell.input.register_forward_pre_hook(lambda module, args: inputs.append(args[0].detach()))
    model.train()
    model(torch.ones(6, 1, 8, 8))
    first_layer = inputs[0]
    assert set(first_layer.unique().tolist()) == {0.0, 2.0}  # inverted dropout of ones
    assert (first_layer == first_layer[:, :1]).all()  # the same mask at every time step
    assert not (first_layer[0] == first_layer[1]).all()  # a fresh mask per sequence
    second_layer = inputs[1]
    assert ((second_layer == 0) == (second_layer[:, :1] == 0)).all()
    model.eval()
    torch.testing.assert_close(model(torch.ones(2, 1, 8, 8)), model(torch.ones(2, 1, 8, 8)))


@pytest.mark.parametrize("rnn_dropout", ["variational", "naive"])
def test_variational_dropout_masks_the_recurrent_connections_too_and_naive_does_not(rnn_dropout):
    """The book's variational dropout: h_{t-1} reaches U through one mask per sequence and layer, the
    same at every step (a mask of its own, not the input's); naive dropout leaves h -> h alone."""
    torch.manual_seed(0)
    model = RNN((1, 8, 8), 10, norm.Normalization(), 0.5, rnn_dropout, hidden=16, layers=2)
    read: list[list[Tensor]] = [[] for _ in model.cells]
    for cell, steps in zip(model.cells, read, strict=True):
        cell.recurrent.register_forward_pre_hook(lambda module, args, steps=steps: steps.append(args[0]))
    model.train()(torch.randn(6, 1, 8, 8))
    for steps in read:
        states = torch.stack(steps[1:], dim=1).detach()  # (N, T - 1, H): what U read after step 0
        zeros = states == 0
        if rnn_dropout == "naive":
            assert not zeros.any()
        else:
            assert zeros.float().mean().item() == pytest.approx(0.5, abs=0.15)
            assert (zeros == zeros[:, :1]).all()  # one mask per sequence, the same at every step
            assert not (zeros[0] == zeros[1]).all()  # a fresh mask for each sequence
    model.eval()
    torch.testing.assert_close(model(torch.ones(2, 1, 8, 8)), model(torch.ones(2, 1, 8, 8)))


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_resnet_logits_and_downsampling(shape):
    model = ResNet(shape, 10, norm.BatchNormalization(), dropout=0.0, widths=(4, 8, 16), blocks=2)
    assert model(torch.randn(2, *shape)).shape == (2, 10)
    assert model.features(torch.randn(2, *shape)).shape[-1] == -(-shape[-1] // 4)
    assert sum(isinstance(m, ResidualBlock) for m in model.modules()) == 6


def test_residual_block_adds_the_shortcut():
    block = ResidualBlock(norm.Normalization(), 4, 4, 1, "relu")
    with torch.no_grad():
        for p in block.residual.parameters():
            p.zero_()
    x = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(block(x), torch.relu(x))  # F(x) = 0: y = act(x + 0)
    downsampling = ResidualBlock(norm.Normalization(), 4, 8, 2, "relu")
    assert isinstance(downsampling.shortcut[0], nn.Conv2d) and downsampling(x).shape == (2, 8, 3, 3)


@pytest.mark.parametrize(("option", "cls"), [("resnet", ResNet), ("rnn", RNN)])
def test_model_options_compose_and_build(option, cls):
    cfg = compose_config(f"model={option}")
    arguments = Dropout(p=0.1).model_arguments(cls)  # as the runner hands them over
    model = make(cfg, "model", (3, 32, 32), 10, norm.Normalization(), **arguments)
    assert type(model) is cls and model.activation in ("relu", "tanh")


def test_new_options_train_from_the_config(tmp_path):
    """Smoke runs covering resnet, rnn, whitening and init=pretrained reading a runner checkpoint (of
    another model here, so every tensor falls back; test_init checks what matching tensors load)."""
    runs = [
        [
            "model=resnet",
            "model.widths=[4,8]",
            "model.blocks=1",
            "norm=group",
            "norm.num_groups=2",
            "preprocess=zca_whiten",
            "init=orthogonal",
        ],
        [
            "model=rnn",
            "model.hidden=16",
            "norm=layer",
            "preprocess=pca_whiten",
            "init=xavier_uniform",
            "regularization=dropout",
            "regularization.dropout.p=0.2",
        ],
        [
            "model=mlp",
            "norm=weight",
            "init=pretrained",
            f"init.path={tmp_path / 'run0' / 'checkpoint.pt'}",
            "init.strict=false",
        ],
    ]
    for i, overrides in enumerate(runs):
        metrics = train(tmp_path / f"run{i}", "debug=fast", "trainer.batch_size=16", *overrides)
        assert metrics["status"] == "completed", overrides


GRID = [
    f"init={name}"
    for name in (
        "gaussian",
        "uniform",
        "constant",
        "xavier_normal",
        "xavier_uniform",
        "he_normal",
        "he_uniform",
        "orthogonal",
    )
]
GRID += [f"norm={name}" for name in ("none", "batch", "layer", "group", "weight", "lrn")]
GRID += [f"preprocess={name}" for name in ("pca_whiten", "zca_whiten")]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["mlp", "cnn", "resnet", "rnn"])
@pytest.mark.parametrize("option", GRID)
def test_every_option_trains_every_model(tmp_path, model, option):
    metrics = train(tmp_path, "debug=fast", "trainer.batch_size=16", f"model={model}", option)
    assert metrics["status"] == "completed"


@pytest.mark.parametrize("option", [*GRID, "preprocess=minmax", "preprocess=none"])
def test_every_option_trains_the_cnn(tmp_path, option):
    """The fast smoke test of each init, norm and preprocess option (all models: the slow grid above)."""
    metrics = train(
        tmp_path, "debug=fast", "trainer.batch_size=16", "model=cnn", "model.channels=[8,16]", option
    )
    assert metrics["status"] == "completed"


@pytest.mark.parametrize("rnn_dropout", ["variational", "naive"])
def test_rnn_dropout_masks_per_sequence_or_per_step(rnn_dropout):
    """Both masks keep 1 - p of the inputs, scaled by 1 / (1 - p); variational draws one per sequence
    (the same at every step), naive a new one at every step (two steps agree on p^2 + (1 - p)^2 of the
    entries, binomially)."""
    torch.manual_seed(8)
    p, batch, steps, features = 0.5, 100, 8, 64
    model = RNN((1, steps, features), 10, norm.Normalization(), p, rnn_dropout, hidden=4)
    seen = []
    model.cells[0].input.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    model.train()(torch.ones(batch, 1, steps, features))
    (masked,) = seen
    assert masked.shape == (batch, steps, features)
    assert set(masked.unique().tolist()) == {0.0, 1 / (1 - p)}
    n = batch * features  # the independent draws of one step
    dropped = int((masked[:, -1] == 0).sum())
    assert abs(dropped - n * p) < 4.5 * (n * p * (1 - p)) ** 0.5
    agree = (masked[:, 1:] == masked[:, :1]).float().mean().item()  # every step against the first
    if rnn_dropout == "variational":
        assert agree == 1.0
    else:
        expected, pairs = p**2 + (1 - p) ** 2, batch * (steps - 1) * features
        assert abs(agree - expected) < 4.5 * (expected * (1 - expected) / pairs) ** 0.5


def test_naive_rnn_dropout_needs_a_recurrent_model():
    refused = r"^regularization.dropout.rnn_dropout=naive: must be variational \(naive needs a recurrent"
    with pytest.raises(UserError, match=refused):
        preflight(compose_config("regularization=dropout", "regularization.dropout.rnn_dropout=naive"))
    preflight(
        compose_config("model=rnn", "regularization=dropout", "regularization.dropout.rnn_dropout=naive")
    )
