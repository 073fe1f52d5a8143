"""The probes group: every preset builds from its _target_ with the run's context alone, each nested
component is typed, any metric a probe declares can be monitored by name with its direction, and the
probes measure after early stopping has put back its best weights."""

import csv

import pytest
import yaml
from omegaconf import OmegaConf

import netopt
from netopt import config
from netopt.errors import UserError
from netopt.probes.monitor import LOOP_METRICS, available_metrics, monitor_mode
from netopt.schedules import ReduceLROnPlateau
from tests.helpers import compose_config, train


@pytest.mark.parametrize("name", config.OPTIONS["probes"])
def test_every_probe_preset_builds_from_its_target_and_declares_its_metrics(name):
    model = ["model=rnn"] if name == "net_input" else []
    cfg = compose_config(f"probes={name}", *model)
    probes = netopt.build(cfg).probes[: len(cfg.probes)]
    assert [type(p).__name__ for p in probes] == [
        cfg.probes[k]._target_.rsplit(".", 1)[1] for k in cfg.probes
    ]
    for probe in probes:
        declared = probe.metrics() | probe.final_metrics()
        assert declared and set(declared.values()) <= {"min", "max", None}


def test_a_preset_holding_components_under_its_keys_has_each_typed():
    cfg = compose_config("probes=[sharpness,layer_stats]", "probes.sharpness.every=5")
    assert list(cfg.probes) == ["sharpness", "layer_stats"]
    for key in cfg.probes:
        assert OmegaConf.get_type(cfg.probes[key]).__name__.endswith("Config") and cfg.probes[key]._partial_
    assert cfg.probes.sharpness.every == 5 and cfg.probes.sharpness.per_layer is False  # the default
    nested = config.typed_targets({"a": {"b": {"_target_": "netopt.early_stopping.EarlyStopping"}}, "c": 1})
    assert nested["a"]["b"].patience == 0 and nested["c"] == 1


def test_the_loops_metrics_improve_as_their_names_say_and_a_probes_as_it_declares():
    available = available_metrics([])
    assert available == {
        "val_loss": "min",
        "val_acc": "max",
        "val_ece": "min",  # expected calibration error: lower is better
        "train_loss_running": "min",
        "train_acc_running": "max",
    }
    assert list(available) == list(LOOP_METRICS)
    with_norm = available | {"weight_norm": None}
    assert monitor_mode("weight_norm", "max", with_norm) == "max"
    with pytest.raises(UserError, match=r"^mode=None: must be min or max for weight_norm$"):
        monitor_mode("weight_norm", None, with_norm)
    with pytest.raises(
        UserError, match=r"^monitor=sharpness: must be one of val_loss, val_acc, val_ece, train_loss_running"
    ):
        monitor_mode("sharpness", None, available)
    plateau = ReduceLROnPlateau(100, 10, monitor="sharpness")  # a probe's metric: known once watched
    plateau.watch(available | {"sharpness": "min"})
    assert (plateau.mode, plateau.best) == ("min", float("inf"))
    plateau.watch(available | {"sharpness": "max"})
    assert (plateau.mode, plateau.best) == ("max", float("-inf"))
    assert plateau.on_validation({"val_loss": 1.0}) == {} and plateau.num_bad_epochs == 0  # not measured


def test_early_stopping_monitors_a_probes_metric_and_the_probes_measure_the_restored_weights(tmp_path):
    metrics = train(
        tmp_path,
        "trainer.max_epochs=3",
        "trainer.limit_batches=3",
        "probes=sharpness",
        "probes.sharpness.samples=128",
        "early_stopping=val_loss",
        "early_stopping.monitor=sharpness",
        "early_stopping.patience=10",
    )
    with open(tmp_path / "epochs.csv") as file:
        rows = {int(row["epoch"]): float(row["sharpness"]) for row in csv.DictReader(file)}
    assert len(rows) == 3
    best = min(rows, key=rows.__getitem__)
    assert metrics["restored_epoch"] == best  # early stopping read the probe's metric, lower is better
    assert metrics["sharpness"] == pytest.approx(rows[best], rel=1e-9)  # measured after the restore
    probes = netopt.build(compose_config("probes=sharpness", "early_stopping=val_loss")).probes
    assert set(metrics) - {"status"} == set(available_metrics(probes, final=True))  # a sweep's objectives


def test_sharpness_at_a_common_step_and_train_loss_and_through_a_resume(tmp_path):
    """at_step: at the first validation after that many steps; at_loss: at the first whose running train
    loss is at most that, with the steps it took; measured once, and carried over a resume."""
    probe = ("probes=sharpness", "probes.sharpness.samples=64", "probes.sharpness.every=10")
    common = ("trainer.limit_batches=3", "probes.sharpness.at_step=4", "probes.sharpness.at_loss=100")
    straight = train(tmp_path / "straight", "trainer.max_epochs=3", *probe, *common)
    with open(tmp_path / "straight" / "epochs.csv") as file:
        rows = list(csv.DictReader(file))
    assert [int(row["step"]) for row in rows] == [3, 6, 9] and straight["steps_at_loss"] == 3
    assert 0 < straight["sharpness_at_step"] != straight["sharpness_at_loss"] > 0  # epochs 2 and 1
    train(tmp_path / "resumed", "trainer.max_epochs=2", *probe, *common)
    resumed = train(tmp_path / "resumed", "trainer.max_epochs=3", "trainer.resume=true", *probe, *common)
    keys = ("sharpness_at_step", "sharpness_at_loss", "steps_at_loss")
    assert [resumed[k] for k in keys] == [straight[k] for k in keys]
    never = train(tmp_path / "never", "trainer.max_epochs=1", *probe, "probes.sharpness.at_loss=1e-9")
    assert "sharpness_at_loss" not in never and "sharpness_at_step" not in never  # not asked, not reached


def test_a_sweep_ranks_by_a_probes_metric_in_the_direction_it_declares(cli, tmp_path):
    status, err = cli(
        "-m",
        "debug=fast",
        "optimizer.lr=0.05,0.5",
        "probes=sharpness",
        "probes.sharpness.samples=64",
        "hydra.callbacks.summary.metric=sharpness",
        "hydra.sweep.dir=sweep",
    )
    assert status == 0, err
    best = yaml.safe_load((tmp_path / "sweep" / "best.yaml").read_text())
    with open(tmp_path / "sweep" / "results.csv") as file:
        values = [float(row["sharpness"]) for row in csv.DictReader(file)]
    assert best["direction"] == "minimize" and best["objective"] == pytest.approx(min(values))
