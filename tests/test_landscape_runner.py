"""The landscape instruments in the runner and from the command line: sharpness every N epochs,
netopt-landscape on a run folder, netopt-trajectories from the optimizer presets; the chapter's
sharp-minima claims on the digits MLP (slow)."""

import csv

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from netopt.cli.landscape import main as landscape_main
from netopt.cli.trajectories import main as trajectories_main
from netopt.errors import UserError
from netopt.report.records import read_records
from netopt.studies.landscape import landscape
from netopt.studies.trajectories import trajectories
from tests.helpers import read_metrics, train


def paths(out) -> list[dict]:
    """Each path's record in records.jsonl as one mapping: its settings, seed and metrics."""
    return [r.settings | {"seed": r.seed} | r.metrics for r in read_records(out / "records.jsonl")]


def read_csv(path) -> list[dict]:
    with open(path) as file:
        return list(csv.DictReader(file))


def test_sharpness_is_logged_every_n_epochs_and_ends_in_the_metrics(tmp_path):
    metrics = train(
        tmp_path,
        "trainer.max_epochs=2",
        "probes=sharpness",
        "probes.sharpness.every=1",
        "probes.sharpness.per_layer=true",
    )
    assert metrics["sharpness"] > 0 and metrics["hessian_trace"] > 0
    assert read_metrics(tmp_path)["sharpness"] == pytest.approx(metrics["sharpness"])
    tags = EventAccumulator(str(tmp_path)).Reload().Tags()["scalars"]
    assert {"landscape/sharpness", "landscape/trace", "landscape/layer/layers.1"} <= set(tags)
    assert len(EventAccumulator(str(tmp_path)).Reload().Scalars("landscape/sharpness")) == 2


def test_netopt_landscape_writes_both_slices_from_a_run_folder(tmp_path):
    train(tmp_path, "debug=fast")
    written = landscape(tmp_path, points=5, span=0.5, samples=128, surface=True, seed=0).written
    names = {p.name for p in written}
    assert names == {f"landscape_{d}.{e}" for d in ("1d", "2d") for e in ("png", "csv")} | {
        "landscape_2d_surface.png"
    }
    rows = read_csv(tmp_path / "landscape_2d.csv")
    assert len(rows) == 25 and {"a", "b", "train_loss", "test_acc"} <= set(rows[0])
    line = read_csv(tmp_path / "landscape_1d.csv")
    final = next(r for r in line if abs(float(r["a"]) - 1.0) < 1e-9)  # a = 1: the trained weights
    assert float(final["train_loss"]) < float(line[0]["train_loss"])
    assert "landscape/2d" in EventAccumulator(str(tmp_path)).Reload().Tags()["images"]


def test_netopt_landscape_of_an_autoencoder_is_its_mean_squared_error_without_accuracy(tmp_path):
    metrics = train(tmp_path, "debug=fast", "model=autoencoder", "optimizer=adam")
    landscape(tmp_path, points=3, span=0.5, samples=64, surface=False, seed=0)
    line = read_csv(tmp_path / "landscape_1d.csv")
    final = next(r for r in line if abs(float(r["a"]) - 1.0) < 1e-9)  # a = 1: the trained weights
    assert float(final["train_loss"]) < float(line[0]["train_loss"]) and final["train_acc"] == "nan"
    assert float(final["test_loss"]) == pytest.approx(metrics["test_loss"], rel=0.5)  # a subset of it


def test_netopt_landscape_shows_progress_a_table_and_what_it_wrote(tmp_path, capsys):
    train(tmp_path / "run", "debug=fast")
    landscape_main(
        [str(tmp_path / "run"), "--points", "3", "--samples", "64", "--out", str(tmp_path / "out")]
    )
    out = capsys.readouterr().out
    assert "line: 31 points in" in out and "plane: 9 points in" in out
    assert "final weights: line a=1" in out and "plane, lowest" in out and "train loss" in out
    assert f"written: {tmp_path / 'out' / 'landscape_1d.png'}" in out
    assert not (tmp_path / "run" / "landscape_1d.png").exists()  # --out, not the run folder


def test_netopt_landscape_help_lists_its_options_with_defaults(capsys):
    with pytest.raises(SystemExit) as stop:
        landscape_main(["--help"])
    out = capsys.readouterr().out
    assert stop.value.code == 0 and out.startswith("usage: netopt-landscape")
    assert "--points POINTS" in out and "(default: 21)" in out and "(default: 2048)" in out
    assert "netopt-trajectories" not in out


def test_netopt_landscape_refuses_a_folder_without_a_run(tmp_path):
    with pytest.raises(UserError, match="RUN_DIR: no checkpoint at"):
        landscape(tmp_path, points=5, span=0.5, samples=128, surface=False, seed=0)


def test_netopt_trajectories_draws_every_optimizer_preset(tmp_path):
    out = trajectories(
        [f"out={tmp_path}", "functions=[saddle,sphere]", "optimizers=[sgd,adam]", "steps.sphere=20"]
    )
    written = {"saddle.png", "sphere.png", "trajectories.csv", "records.jsonl", "report.md", "report.html"}
    assert {p.name for p in out.iterdir()} == written
    summary = {(o["function"], o["optimizer"]): o for o in paths(out)}
    assert summary["sphere", "adam"]["final_loss"] < 25.0 and summary["sphere", "sgd"]["steps"] == 20
    assert summary["sphere", "sgd"]["escaped"] is None  # no saddle point to escape
    off_ridge = summary["saddle", "sgd"]  # off the ridge (y = 0.01): the saddle lets it go
    assert (
        off_ridge["escaped"] and 0 < off_ridge["escape_step"] < off_ridge["steps"] and off_ridge["left_box"]
    )
    assert (off_ridge["noise"], off_ridge["seed"], off_ridge["lr"]) == (0.0, 0, 0.05)
    on_ridge = trajectories(
        [f"out={tmp_path / 'ridge'}", "functions=[saddle]", "optimizers=[sgd]", "start.saddle=[-1.5,0.0]"]
    )
    (stays,) = paths(on_ridge)
    assert stays["escaped"] is False and stays["escape_step"] is None  # GD never leaves the ridge y = 0
    with pytest.raises(UserError, match="functions: no such function"):
        trajectories([f"out={tmp_path}", "functions=[himmelblau]"])


def test_netopt_trajectories_chooses_as_netopt_train_does(tmp_path, capsys):
    """optimizer=adam runs Adam only, function=a,b those functions; optimizer.lr wins over lrs; the
    command ends with the table and the folder it wrote."""
    trajectories_main(
        [f"out={tmp_path / 'one'}", "optimizer=adam", "function=sphere,saddle", "steps.sphere=5"]
    )
    assert {(p["optimizer"], p["function"]) for p in paths(tmp_path / "one")} == {
        ("adam", "sphere"),
        ("adam", "saddle"),
    }
    out = capsys.readouterr().out
    assert "sphere: 1 paths in" in out and "final loss" in out and f"written: {tmp_path / 'one'}" in out
    trajectories(
        [f"out={tmp_path / 'two'}", "optimizer=sgd,momentum", "function=sphere", "optimizer.lr=0.01"]
    )
    assert {(p["optimizer"], p["lr"]) for p in paths(tmp_path / "two")} == {("sgd", 0.01), ("momentum", 0.01)}


def test_netopt_trajectories_help_lists_its_options(capsys):
    trajectories_main(["--help"])
    out = capsys.readouterr().out
    assert "optimizer=NAME[,NAME...]" in out and "function=NAME[,NAME...]" in out
    assert "steps={sphere: 60," in out and "seeds=[0]" in out and "lrs.saddle={sgd: 0.05," in out


def _sharpness(tmp_path, name: str, *overrides: str) -> float:
    return train(tmp_path / name, "probes=sharpness", "probes.sharpness.every=1000", *overrides)["sharpness"]


@pytest.mark.slow
def test_large_batches_end_sharper_and_sam_flatter(tmp_path):
    """Keskar et al. 2017: at equal epochs and the same lr, batch 1024 ends in a sharper minimum than
    batch 32 (measured here: about 16 against 1.4). With the lr scaled linearly (32x) it does not: the
    larger steps keep the large batch below sharpness 2 / lr (the edge of stability, Cohen et al. 2021),
    as conf/experiment/sharpness.yaml explains. SAM (Foret et al. 2021) ends flatter than its base
    optimizer."""
    epochs = "trainer.max_epochs=100"
    small = _sharpness(tmp_path, "b32", epochs, "trainer.batch_size=32", "optimizer.lr=0.05")
    large = _sharpness(tmp_path, "b1024", epochs, "trainer.batch_size=1024", "optimizer.lr=0.05")
    assert large > 2 * small
    base = _sharpness(tmp_path, "momentum", "trainer.max_epochs=20", "optimizer=momentum")
    sam = _sharpness(tmp_path, "sam", "trainer.max_epochs=20", "optimizer=sam", "optimizer.rho=0.1")
    assert sam < base
