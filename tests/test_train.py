"""End to end: what a run leaves, determinism, resume after SIGKILL, divergence, multiruns."""

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from netopt.run.record import FINAL_GROUP, FINAL_METRICS
from netopt.state import Hits
from tests.helpers import read_metrics, train

SHORT = ["trainer.max_epochs=3"]
METRIC_KEYS = {
    "status",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "best_val_acc",
    "best_epoch",
    "test_loss",
    "test_acc",
    "generalization_gap",
    "epochs",
    "steps",
    "wall_time_s",
    "samples_per_s",
    "stopped_epoch",
    "restored_epoch",
}


def events(run_dir: Path) -> EventAccumulator:
    return EventAccumulator(str(run_dir), size_guidance={"scalars": 0}).Reload()


def test_a_run_leaves_metrics_checkpoint_and_one_tensorboard_run(tmp_path):
    metrics = train(tmp_path, *SHORT)
    assert set(metrics) == METRIC_KEYS and metrics == read_metrics(tmp_path)
    assert metrics["status"] == "completed" and metrics["epochs"] == 3 and metrics["test_acc"] > 0.8
    assert (tmp_path / "checkpoint.pt").exists()
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [".hydra"]  # hparams opened no second run
    acc = events(tmp_path)
    steps = metrics["steps"]
    for tag in ["train/loss", "train/lr"]:
        assert [e.step for e in acc.Scalars(tag)] == list(range(steps))
    # without clipping the gradient norm is measured every trainer.grad_norm_every (10) steps
    assert [e.step for e in acc.Scalars("train/grad_norm")] == list(range(0, steps, 10))
    for tag in ["val/loss", "val/acc"]:
        assert len(acc.Scalars(tag)) == 3
    assert acc.Scalars("test/acc")[0].value == pytest.approx(metrics["test_acc"])
    assert acc.Scalars("train/lr")[0].value == pytest.approx(0.1)
    assert "_hparams_/session_start_info" in acc.summary_metadata
    for key in FINAL_METRICS:  # the final values, as single points of their own tag group
        (point,) = acc.Scalars(f"{FINAL_GROUP}/{key}")
        assert point.value == pytest.approx(metrics[key]) and point.step == steps - 1
    # TensorBoard lays out tag groups (the part before the first "/") in ascii order: the curves first
    groups = {tag.split("/")[0] for tag in acc.Tags()["scalars"]}
    assert {"train", "val", "test", FINAL_GROUP} <= groups and max(groups) == FINAL_GROUP


def test_runs_are_deterministic(tmp_path):
    a, b = (train(tmp_path / name, *SHORT, "trainer.seed=7") for name in "ab")
    c = train(tmp_path / "c", *SHORT, "trainer.seed=8")
    timing = {"wall_time_s", "samples_per_s"}
    assert {k: v for k, v in a.items() if k not in timing} == {k: v for k, v in b.items() if k not in timing}
    assert a["train_loss"] != c["train_loss"]


def test_linear_scaling_rule_scales_the_lr(tmp_path):
    train(
        tmp_path,
        "debug=fast",
        "trainer.linear_scaling_rule=true",
        "trainer.batch_size=128",
        "trainer.base_batch_size=32",
    )
    assert events(tmp_path).Scalars("train/lr")[0].value == pytest.approx(0.4)


def test_divergence_stops_within_one_step(tmp_path):
    metrics = train(tmp_path, "optimizer.lr=1e12")
    assert metrics["status"] == "diverged" and metrics["steps"] <= 3
    assert read_metrics(tmp_path)["test_acc"] is None


def test_single_diverged_run_exits_3_and_multirun_goes_on(cli, tmp_path):
    status, err = cli("optimizer.lr=1e12", "hydra.run.dir=single")
    assert status == 3 and "diverged" in err.strip().splitlines()[-1]
    assert read_metrics(tmp_path / "single")["status"] == "diverged"
    status, _ = cli("-m", "optimizer.lr=1e12,0.1", "debug=fast", "hydra.sweep.dir=sweep")
    assert status == 0
    folders = ["000_lr=1e+12", "001_lr=0.1"]  # named after what varies, zero-padded
    assert [read_metrics(tmp_path / "sweep" / n)["status"] for n in folders] == ["diverged", "completed"]


def test_multirun_gives_one_folder_per_job_under_outputs(cli, tmp_path):
    status, _ = cli("-m", "optimizer.lr=0.01,0.1", "trainer.max_epochs=2")
    assert status == 0
    runs = sorted((tmp_path / "outputs" / "multirun").glob("*/*/metrics.json"))
    assert len(runs) == 2
    assert sorted(events(r.parent).Scalars("train/lr")[0].value for r in runs) == pytest.approx([0.01, 0.1])


def test_a_config_error_found_with_the_data_leaves_no_folder(cli, tmp_path):
    status, err = cli("dataset.train_size=99999", "hydra.run.dir=run")
    assert status == 2
    assert err.strip().splitlines() == [
        "netopt-train: error: dataset.train_size=99999: must be at most 1294 for this dataset"
    ]
    assert not (tmp_path / "run").exists()


def test_a_run_that_fails_while_training_records_status_failed(cli, tmp_path, monkeypatch):
    def broken(self, bar, task):
        raise RuntimeError("a bug in the loop")

    monkeypatch.setattr("netopt.loop.Trainer.train_epoch", broken)
    with pytest.raises(RuntimeError, match="a bug in the loop"):
        cli("hydra.run.dir=run")
    assert read_metrics(tmp_path / "run") == {"status": "failed", "error": "a bug in the loop"}


def test_truncated_checkpoint_is_a_clear_error(cli, tmp_path):
    run_dir = tmp_path / "run"
    train(run_dir, "debug=fast")
    data = (run_dir / "checkpoint.pt").read_bytes()
    (run_dir / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    status, err = cli("trainer.resume=true", f"hydra.run.dir={run_dir}")
    assert status == 2
    assert err.strip().startswith(
        f"netopt-train: error: trainer.resume: {run_dir / 'checkpoint.pt'} is not a"
    )


def test_resume_of_a_finished_run_changes_nothing(tmp_path):
    first = train(tmp_path, *SHORT)
    again = train(tmp_path, *SHORT, "trainer.resume=true")
    assert {k: first[k] for k in ("test_acc", "steps", "epochs")} == {
        k: again[k] for k in ("test_acc", "steps", "epochs")
    }


def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path):
    """A real process killed mid-way (after its first checkpoint) and resumed ends exactly the same."""
    args = ["trainer.max_epochs=6", "trainer.batch_size=8", "dataset.train_size=800", "trainer.seed=3"]
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "netopt.cli.train",
            *args,
            "trainer.progress=false",
            f"hydra.run.dir={killed}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not (killed / "checkpoint.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = torch.load(killed / "checkpoint.pt", weights_only=True)["history"]["epoch"]
    assert 1 <= before < 6 and not (killed / "metrics.json").exists()
    resumed = train(killed, *args, "trainer.resume=true")
    straight = train(tmp_path / "straight", *args)
    timing = {"wall_time_s", "samples_per_s"}
    assert {k: v for k, v in resumed.items() if k not in timing} == {
        k: v for k, v in straight.items() if k not in timing
    }
    losses = [e.value for e in events(killed).Scalars("train/loss")]
    assert len(losses) == resumed["steps"]  # the redone steps replaced the killed run's events
    assert math.isfinite(resumed["test_acc"])


def test_clipping_logs_the_gradient_norm_at_every_step(tmp_path):
    metrics = train(tmp_path, *SHORT, "clip=norm", "trainer.grad_norm_every=5")
    assert [e.step for e in events(tmp_path).Scalars("train/grad_norm")] == list(range(metrics["steps"]))


def test_hits_count_every_batch_once_across_the_bulk_counts():
    generator = torch.Generator().manual_seed(0)
    hits, expected = Hits(every=4), 0
    for size in [7, 64, 64, 3, 64, 64, 64, 64, 64, 1, 64]:  # eleven batches: two bulk counts and a rest
        logits, target = (
            torch.randn(size, 5, generator=generator),
            torch.randint(5, (size,), generator=generator),
        )
        hits.add(logits, target)
        expected += int((logits.argmax(dim=1) == target).sum())
    assert hits.total().item() == expected
    assert hits.total().item() == expected  # reading it again counts nothing twice


def test_sam_counts_each_batch_once_in_the_train_accuracy(tmp_path):
    """SAM evaluates the closure twice a step; the running accuracy must see the batch once."""
    train(tmp_path, "trainer.max_epochs=2", "optimizer=sam")
    rows = (tmp_path / "epochs.csv").read_text().splitlines()[1:]
    accuracies = [float(row.split(",")[3]) for row in rows]
    assert all(0.5 < acc <= 1.0 for acc in accuracies[1:]), accuracies
