"""The weight-norm probe: ||theta||_2 over every parameter after each validation and at the end, and a
metric without a direction of its own that a watcher monitors with an explicit mode."""

import csv
import math

import pytest
import torch
from torch import nn

from netopt.components import preflight
from netopt.errors import UserError
from netopt.optim import SGD
from netopt.probes import ProbeContext
from netopt.probes.weight_norm import WeightNorm
from tests.helpers import compose_config, train
from tests.test_diagnostics import Writer


def test_the_norm_is_the_square_root_of_the_sum_of_every_squared_parameter():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    writer = Writer()
    probe = WeightNorm(ProbeContext(model, SGD(model.parameters(), lr=0.1), recorder=writer))
    expected = math.sqrt(sum(p.detach().double().square().sum().item() for p in model.parameters()))
    assert probe.on_validation({"epoch": 1, "step": 5}) == {"weight_norm": pytest.approx(expected, rel=1e-6)}
    assert writer.logged[4] == {"weights/norm": pytest.approx(expected, rel=1e-6)}
    assert probe.on_fit_end() == {"weight_norm": pytest.approx(expected, rel=1e-6)}
    assert probe.metrics() == probe.final_metrics() == {"weight_norm": None}


def test_a_run_records_it_every_epoch_and_a_watcher_monitors_it_with_a_mode(tmp_path):
    overrides = (
        "trainer.max_epochs=3",
        "trainer.limit_batches=3",
        "probes=weight_norm",
        "early_stopping=val_loss",
    )
    metrics = train(tmp_path, *overrides, "early_stopping.monitor=weight_norm", "early_stopping.mode=min")
    with open(tmp_path / "epochs.csv") as file:
        norms = [float(row["weight_norm"]) for row in csv.DictReader(file)]
    assert len(norms) == 3 and metrics["weight_norm"] > 0
    assert metrics["restored_epoch"] == 1 + norms.index(min(norms))


def test_monitoring_it_without_a_mode_is_refused_before_training():
    cfg = compose_config(
        "probes=weight_norm", "early_stopping=val_loss", "early_stopping.monitor=weight_norm"
    )
    with pytest.raises(UserError, match=r"^early_stopping.mode=None: must be min or max for weight_norm$"):
        preflight(cfg)
