"""The LSTM's net input per time step (the net_input probe): against a hand-run recurrence, layer
norm's fixed scale, the coefficient of variation, what a run records, and a model it cannot measure."""

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from netopt.errors import UserError
from netopt.models.rnn import RNN
from netopt.nn import norm
from netopt.probes.net_input import coefficient_of_variation, net_input_std
from tests.helpers import train


def _rnn(normalization: norm.Normalization, layers: int = 1) -> RNN:
    torch.manual_seed(0)
    return RNN((1, 8, 8), 10, normalization, 0.3, "variational", hidden=16, layers=layers)


def test_the_per_step_std_is_that_of_the_net_input_of_a_hand_run_recurrence():
    model, x = _rnn(norm.Normalization()), torch.randn(32, 1, 8, 8) * 3
    normalized, raw = net_input_std(model.train(), x)
    assert normalized.shape == raw.shape == (1, 8) and torch.equal(normalized, raw)  # no norm: n_t = z_t
    cell, rows = model.cells[0], x.squeeze(1)
    h = c = torch.zeros(32, 16)
    with torch.no_grad():
        for t in range(8):
            z = cell.input(rows[:, t]) + cell.recurrent(h)
            torch.testing.assert_close(raw[0, t], z.std(correction=0), rtol=1e-5, atol=0)
            h, c = cell(cell.input(rows[:, t]), (h, c))
    assert model.training  # the mode comes back; the hooks are gone
    assert not cell.net_input_norm._forward_hooks


def test_layer_norm_fixes_the_scale_the_gates_see_at_every_step():
    model = _rnn(norm.LayerNormalization(), layers=2)
    normalized, raw = net_input_std(model, torch.randn(64, 1, 8, 8) * 5)
    assert normalized.shape == (2, 8)
    torch.testing.assert_close(normalized, torch.ones(2, 8), rtol=0, atol=1e-3)  # gain 1, shift 0 (eps)
    assert coefficient_of_variation(normalized) < 1e-3 < coefficient_of_variation(raw)


def test_coefficient_of_variation():
    assert coefficient_of_variation(torch.tensor([[2.0, 2.0, 2.0]])) == 0.0
    assert coefficient_of_variation(torch.tensor([[1.0, 3.0], [2.0, 2.0]])) == pytest.approx(0.25)


def test_an_rnn_run_records_the_net_input_per_step(tmp_path):
    metrics = train(
        tmp_path,
        "model=rnn",
        "norm=layer",
        "probes=net_input",
        "trainer.max_epochs=2",
        "trainer.limit_batches=3",
    )
    assert 0 <= metrics["preact_std_cv"] < metrics["preact_std_cv_raw"]
    assert metrics["preact_std_mean"] == pytest.approx(1.0, abs=0.1)
    scalars = EventAccumulator(str(tmp_path)).Reload().Tags()["scalars"]
    steps = sorted(tag for tag in scalars if tag.startswith("rnn/preact_std/"))
    assert steps == [f"rnn/preact_std/layer0/t{t:02d}" for t in range(8)]
    assert len(EventAccumulator(str(tmp_path)).Reload().Scalars(steps[0])) == 2  # one per epoch


def test_the_probe_refuses_a_model_that_is_not_recurrent(tmp_path):
    with pytest.raises(UserError, match=r"^probes=net_input: measures a model of model=rnn only, not MLP"):
        train(tmp_path, "probes=net_input")
