"""Targets set the AlgoPerf way (netopt/bench/calibration.py) and scored from above for a loss: the median
over seeds of the baseline's best trial, rounded towards the easier side, written into the workload file;
netopt-bench mode=calibrate end to end."""

import math
from unittest import mock

import pytest

from netopt.bench import calibration, scoring
from netopt.bench.runs import Result
from netopt.bench.suite import Trial, Workload
from netopt.cli import bench

ACC = Workload("w", ("dataset=digits",), "val_acc", 0.5, 0.5, 100, 10)
LOSS = Workload("ae", ("model=autoencoder",), "val_loss", 1.0, 1.0, 100, 10)


def result(w: Workload, seed: int, index: int, best: float, test: float) -> Result:
    return Result(Trial(w.name, "adamw", seed, index), "completed", 1.0, 1.0, best, test)


def test_target_is_the_median_over_seeds_of_the_best_trial():
    results = [
        result(ACC, 0, 1, 0.90, 0.89), result(ACC, 0, 2, 0.95, 0.94),   # seed 0: trial 2
        result(ACC, 1, 1, 0.97, 0.95), result(ACC, 1, 2, math.nan, math.nan),  # seed 1: trial 1
        result(ACC, 2, 1, 0.80, 0.81), result(ACC, 2, 2, 0.93, 0.92),   # seed 2: trial 2
    ]  # fmt: skip
    t = calibration.targets(results, ACC, slack=0.0)
    assert (t.target, t.test_target) == (0.95, 0.94)
    assert "median over seeds [0, 1, 2] of adamw's best of 2 trial(s) within 100 steps" in t.how
    loosened = calibration.targets(results, ACC, slack=0.1)
    assert loosened.target == pytest.approx(0.855)


def test_a_loss_target_is_the_lowest_and_loosened_upward():
    results = [result(LOSS, s, k, v, v + 0.01) for s, k, v in [(0, 1, 0.3), (0, 2, 0.2), (1, 1, 0.25)]]
    t = calibration.targets(results, LOSS, slack=0.1)
    assert t.target == pytest.approx(0.225 * 1.1)  # seeds' best 0.2 and 0.25: median 0.225


def test_rounding_goes_towards_the_easier_side():
    assert calibration.easier(0.873666, maximize=True) == 0.8736
    assert calibration.easier(0.873666, maximize=False) == 0.8737
    assert calibration.easier(0.0123449, maximize=False) == 0.01235
    assert calibration.easier(0.95, maximize=True) == 0.95


def test_a_loss_is_reached_from_above():
    steps, losses = [60, 120, 180], [0.5, 0.3, 0.2]
    assert scoring.time_to_target(steps, losses, 0.3, maximize=False) == 120
    assert scoring.time_to_target(steps, losses, 0.1, maximize=False) == math.inf
    assert not LOSS.maximize and ACC.maximize
    assert LOSS.test_metric == "test_loss"


def test_write_replaces_the_target_lines_and_keeps_the_rest(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("# about w\ntask: [a=b]\nmetric: val_acc\ntarget: 0.5  # provisional\ntest_target: 0.4\n")
    calibration.write(calibration.Targets("w", 0.91, 0.9, "calibrated: how"), path)
    assert path.read_text() == (
        "# about w\ntask: [a=b]\nmetric: val_acc\ntarget: 0.91   # calibrated: how\ntest_target: 0.9\n"
    )


def test_calibrate_mode_sets_the_targets_it_scores_with(tmp_path, capsys):
    original = calibration.workload_file("digits_mlp").read_text()
    copy = tmp_path / "digits_mlp.yaml"
    copy.write_text(original)
    out = tmp_path / "cal"
    with mock.patch.object(calibration, "workload_file", lambda name: copy):
        bench.main(
            ["size=quick", "mode=calibrate", "submissions=[adam]", "trials=1", "budget_scale=1",
             "seeds=[0]", "overrides=['trainer.max_epochs=2']", f"out={out}"]
        )  # fmt: skip
    printed = capsys.readouterr().out
    assert "digits_mlp: target" in printed and (out / "targets.yaml").is_file()
    text = copy.read_text()
    assert "# calibrated: median over seeds [0] of adam's best of 1 trial(s)" in text
    target = float(text.split("\ntarget: ")[1].split()[0])
    assert f"val_acc >= {target:g}" in (out / "report.md").read_text()
    assert calibration.workload_file("digits_mlp").read_text() == original  # the package's own file


def test_calibrate_takes_one_submission(tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench.main(["size=quick", "mode=calibrate", f"out={tmp_path / 'c'}"])
    assert "submissions=" in capsys.readouterr().err
