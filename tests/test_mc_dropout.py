"""Monte-Carlo dropout at test time: the plain evaluation when nothing is random, only the dropout
layers switched on, seeded, and close to weight scaling on a trained model."""

from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from netopt.data import Split
from netopt.models.mlp import MLP
from netopt.nn import norm
from netopt.probes import ProbeContext
from netopt.probes.mc_dropout import MCDropoutTest, evaluation, mc_dropout_predict
from tests.helpers import train


def _mlp(dropout: float) -> MLP:
    torch.manual_seed(0)
    return MLP((1, 8, 8), 10, norm.BatchNormalization(), dropout, width=32)


def _split(n: int = 300) -> Split:
    generator = torch.Generator().manual_seed(1)
    return Split(
        torch.randn(n, 1, 8, 8, generator=generator), torch.randint(0, 10, (n,), generator=generator)
    )


def mc_dropout_evaluate(model: nn.Module, split: Split, samples: int, batch_size: int, seed: int):
    """Mean loss and accuracy of :func:`mc_dropout_predict`."""
    loss, predicted, y = mc_dropout_predict(model, split, samples, batch_size, seed)
    return loss, (predicted == y).sum().item() / len(y)


def _weight_scaling(model: nn.Module, split: Split) -> tuple[float, float]:
    """The plain evaluation, in one batch: eval mode, mean cross-entropy and accuracy."""
    model.eval()
    with torch.no_grad():
        logits = model(split.x)
    loss = F.cross_entropy(logits, split.y, reduction="sum").item() / len(split)
    return loss, (logits.argmax(dim=1) == split.y).sum().item() / len(split)


@pytest.mark.parametrize("samples", [1, 5])
def test_without_dropout_mc_is_the_plain_evaluation_exactly(samples):
    model, split = _mlp(0.0), _split()
    model.train()
    model(split.x)  # batch norm's running estimates move away from their initial values
    got = mc_dropout_evaluate(model.train(), split, samples, batch_size=len(split), seed=0)
    assert got == _weight_scaling(model, split)  # batch norm in eval mode, bit for bit
    assert mc_dropout_evaluate(model, split, 0, batch_size=len(split), seed=0) == got


def test_only_the_dropout_layers_train_and_every_mode_comes_back():
    model, split = _mlp(0.5), _split()
    model.train()
    seen = {}

    def record(module: nn.Module, inputs: object, output: object) -> None:
        seen.setdefault(type(module).__name__, module.training)

    for module in model.modules():
        module.register_forward_hook(record)
    running = [b.clone() for b in model.buffers()]
    with evaluation(model, dropout=True):
        model(split.x)
    assert seen["Dropout"] and not seen["BatchNorm1d"] and not seen["Linear"]
    assert all(m.training for m in model.modules())
    assert all(torch.equal(a, b) for a, b in zip(running, model.buffers(), strict=True))
    mc_dropout_evaluate(model, split, 3, batch_size=64, seed=0)
    assert all(m.training for m in model.modules())


def test_mc_is_seeded_and_leaves_the_global_random_stream_alone():
    model, split = _mlp(0.5), _split()
    state = torch.get_rng_state()
    a = mc_dropout_evaluate(model, split, 4, batch_size=64, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert mc_dropout_evaluate(model, split, 4, batch_size=64, seed=3) == a
    assert mc_dropout_evaluate(model, split, 4, batch_size=64, seed=4)[0] != a[0]
    assert a[0] != _weight_scaling(model, split)[0]


def test_the_mc_loss_is_the_nll_of_the_mean_softmax():
    model, split = _mlp(0.5), _split(50)
    loss, acc = mc_dropout_evaluate(model, split, 3, batch_size=50, seed=7)
    with torch.random.fork_rng(), evaluation(model, dropout=True), torch.no_grad():
        torch.manual_seed(7)
        probs = torch.stack([model(split.x).softmax(dim=1) for _ in range(3)]).mean(dim=0)
    assert loss == pytest.approx(F.nll_loss(probs.log(), split.y).item(), rel=1e-5)
    assert acc == (probs.argmax(dim=1) == split.y).sum().item() / len(split)


def test_mc_dropout_differs_from_weight_scaling_but_is_close_on_a_trained_model(tmp_path):
    metrics = train(
        tmp_path,
        "model.dropout=0.5",
        "probes=mc_dropout",
        "probes.mc_dropout.samples=20",
        "trainer.max_epochs=5",
    )
    assert metrics["test_acc"] > 0.85
    assert metrics["test_loss_mc"] != metrics["test_loss"]
    assert abs(metrics["test_acc_mc"] - metrics["test_acc"]) <= 0.03
    assert metrics["mc_acc_gain"] == pytest.approx(metrics["test_acc_mc"] - metrics["test_acc"], abs=1e-12)
    assert 0 < metrics["mc_disagreement"] <= 0.1  # dropout was on in the passes, and they mostly agree


def test_mc_disagreement_is_the_share_of_examples_the_two_predictions_differ_on():
    """0 without dropout (the control: the passes cannot differ); above 0 at p = 0.5."""
    split = _split(200)
    for p in (0.0, 0.5):
        model = _mlp(p)
        context = ProbeContext(model, torch.optim.SGD(model.parameters()), seed=3, eval_batch_size=64)
        probe = MCDropoutTest(replace(context, data=SimpleNamespace(test=split)), samples=4)
        mc = mc_dropout_predict(model, split, 4, batch_size=64, seed=3)[1]
        weight_scaling = mc_dropout_predict(model, split, 0, batch_size=64, seed=3)[1]
        share = (mc != weight_scaling).sum().item() / len(split)
        assert probe.on_fit_end()["mc_disagreement"] == share
        assert share > 0 if p else share == 0
