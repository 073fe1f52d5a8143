"""A model's task (netopt/tasks.py): classification's loss and metrics as before, the autoencoder's
reconstruction with the mean squared error (its loss falls, its runs reproduce and resume exactly), and
the one-line refusal of label smoothing without classes."""

import math

import pytest
import torch
import torch.nn.functional as F

from netopt.data import Split
from netopt.evaluation import Evaluator
from netopt.models.autoencoder import AutoEncoder
from netopt.models.mlp import MLP
from netopt.nn.norm import Normalization
from netopt.tasks import CLASSIFICATION, RECONSTRUCTION, task_of
from tests.helpers import compose_config, train

AUTOENCODER = ["model=autoencoder", "optimizer=adam", "trainer.max_epochs=4", "trainer.num_threads=1"]


def test_a_model_says_its_task():
    norm = Normalization()
    assert task_of(MLP((1, 8, 8), 10, norm)) is CLASSIFICATION
    assert task_of(AutoEncoder((1, 8, 8), 10, norm)) is RECONSTRUCTION
    assert task_of(torch.nn.Linear(2, 2)) is CLASSIFICATION  # a model that does not say


def test_autoencoder_reconstructs_the_input_shape_through_its_code():
    model = AutoEncoder((1, 28, 28), 10, Normalization(), widths=(64, 16), code=4)
    x = torch.randn(5, 1, 28, 28)
    assert model(x).shape == x.shape
    assert model.encoder(x).shape == (5, 4)
    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [
        (784, 64), (64, 16), (16, 4), (4, 16), (16, 64), (64, 784)
    ]  # fmt: skip


def test_reconstruction_loss_is_the_mean_squared_error_and_its_sum_the_per_sample_means():
    output, target = (
        torch.randn(6, 1, 4, 4, dtype=torch.float64),
        torch.randn(6, 1, 4, 4, dtype=torch.float64),
    )
    loss = RECONSTRUCTION.loss(output, target)
    torch.testing.assert_close(loss, F.mse_loss(output, target))
    per_sample = ((output - target) ** 2).mean(dim=(1, 2, 3))
    torch.testing.assert_close(RECONSTRUCTION.loss(output, target, reduction="sum"), per_sample.sum())
    x, y = torch.zeros(2, 3), torch.tensor([1, 2])
    assert RECONSTRUCTION.target(x, y) is x and CLASSIFICATION.target(x, y) is y


def test_evaluator_measures_the_task():
    torch.manual_seed(0)
    split = Split(torch.randn(10, 1, 4, 4), torch.randint(0, 3, (10,)))
    identity = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Unflatten(1, (1, 4, 4)))
    loss, acc, ece = Evaluator(identity, batch_size=4, task=RECONSTRUCTION).evaluate(split)
    assert loss == 0.0 and math.isnan(acc) and math.isnan(ece)
    shift = torch.nn.Sequential(identity, torch.nn.Identity())
    shift.register_forward_hook(lambda m, i, out: out + 0.5)
    assert Evaluator(shift, batch_size=4, task=RECONSTRUCTION).evaluate(split)[0] == pytest.approx(0.25)
    logits = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    loss, acc, _ = Evaluator(logits, batch_size=4).evaluate(split)
    with torch.no_grad():
        out = logits(split.x)
    assert loss == pytest.approx(F.cross_entropy(out, split.y).item(), rel=1e-6)
    assert acc == (out.argmax(1) == split.y).sum().item() / len(split)


def test_autoencoder_trains_its_loss_falls_and_resumes_exactly(tmp_path):
    from unittest import mock

    from netopt.run.checkpoint import Checkpoint
    from netopt.run.runner import Interrupted

    straight = train(tmp_path / "straight", *AUTOENCODER)
    epochs = (tmp_path / "straight" / "epochs.csv").read_text().splitlines()
    val_loss = [float(row.split(",")[4]) for row in epochs[1:]]
    assert straight["status"] == "completed"
    assert val_loss[-1] < 0.8 * val_loss[0], val_loss
    assert straight["test_loss"] < val_loss[0] and math.isnan(straight["test_acc"])
    assert math.isnan(straight["train_acc_running"]) and math.isnan(straight["val_ece"])
    save = Checkpoint.save

    def save_then_stop(checkpoint: Checkpoint) -> None:
        save(checkpoint)
        if torch.load(checkpoint.path, weights_only=True)["history"]["epoch"] == 2:
            raise KeyboardInterrupt

    with mock.patch.object(Checkpoint, "save", save_then_stop), pytest.raises(Interrupted):
        train(tmp_path / "resumed", *AUTOENCODER)
    resumed = train(tmp_path / "resumed", *AUTOENCODER, "trainer.resume=true")
    for key, value in straight.items():
        if key not in ("wall_time_s", "samples_per_s") and isinstance(value, float):
            assert value == resumed[key] or (math.isnan(value) and math.isnan(resumed[key])), key


def test_label_smoothing_without_classes_is_refused_in_one_line():
    from netopt.components import preflight
    from netopt.errors import UserError

    with pytest.raises(UserError, match=r"^regularization\.label_smoothing\.eps=0\.1: must be left out"):
        preflight(compose_config(*AUTOENCODER, "regularization=label_smoothing"))
