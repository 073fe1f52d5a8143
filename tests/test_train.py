"""End to end: what a run leaves, determinism, resume after SIGKILL, divergence, multiruns."""

import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from netopt.cli.train import main
from netopt.run.record import FINAL_GROUP, FINAL_METRICS
from netopt.state import History, Hits
from tests.helpers import FAST, read_metrics, train

SHORT = ["trainer.max_epochs=3"]
METRIC_KEYS = {
    "status",
    "train_loss",
    "train_acc",
    "train_loss_running",
    "train_acc_running",
    "val_loss",
    "val_acc",
    "val_ece",
    "best_val_acc",
    "best_epoch",
    "test_loss",
    "test_acc",
    "test_ece",
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
    for tag in ["train/batch_loss", "train/lr"]:
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


def test_the_running_and_the_evaluated_train_values_never_share_a_name(tmp_path, monkeypatch, capsys):
    """The train loss and accuracy running over each epoch's batches (train mode, augmented) and those
    of the evaluation pass over the training split at the end: apart in epochs.csv, metrics.json,
    TensorBoard and the terminal, where debug=fast shows both."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["netopt-train", "debug=fast", "hydra.run.dir=run", *FAST])
    main()
    out = capsys.readouterr().out
    run_dir = tmp_path / "run"
    metrics = read_metrics(run_dir)
    running, evaluated = {"train_loss_running", "train_acc_running"}, {"train_loss", "train_acc"}
    columns = set((run_dir / "epochs.csv").read_text().splitlines()[0].split(","))
    assert running <= columns and not evaluated & columns
    assert running | evaluated <= set(metrics)
    acc = events(run_dir)
    group = f"{FINAL_GROUP}/"
    curves = {tag.replace("/", "_", 1) for tag in acc.Tags()["scalars"] if not tag.startswith(group)}
    final = {tag.removeprefix(group) for tag in acc.Tags()["scalars"] if tag.startswith(group)}
    assert running <= curves and not evaluated & curves and "train_acc" in final and not running & final
    assert acc.Scalars("train/acc_running")[-1].value == pytest.approx(metrics["train_acc_running"])
    assert acc.Scalars(f"{group}train_acc")[-1].value == pytest.approx(metrics["train_acc"])
    for name in ("train_loss", "train_acc"):  # two measures, two values
        assert metrics[name] != metrics[f"{name}_running"], name
        epoch_line = re.search(rf"epoch 1/1: .*\b{name}_running (\S+?),", out)
        assert epoch_line and float(epoch_line[1]) == pytest.approx(metrics[f"{name}_running"], abs=1e-4)
        assert not re.search(rf"epoch 1/1: .*\b{name} ", out)
        for key in (name, f"{name}_running"):  # the summary table: both, each under its own name
            row = re.search(rf"^\W*{key}\W+([\d.]+)", out, re.MULTILINE)
            assert row and float(row[1]) == pytest.approx(metrics[key], abs=1e-4), key


def test_runs_are_deterministic(tmp_path):
    a, b = (train(tmp_path / name, *SHORT, "trainer.seed=7") for name in "ab")
    c = train(tmp_path / "c", *SHORT, "trainer.seed=8")
    timing = {"wall_time_s", "samples_per_s"}
    assert {k: v for k, v in a.items() if k not in timing} == {k: v for k, v in b.items() if k not in timing}
    assert a["train_loss_running"] != c["train_loss_running"]


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
    folders = ["000_lr-1e+12", "001_lr-0.1"]  # named after what varies, zero-padded
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
    deadline = time.monotonic() + 300  # a busy machine's first torch import can take minutes
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
    losses = [e.value for e in events(killed).Scalars("train/batch_loss")]
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


def test_a_checkpoint_from_before_the_running_values_were_named_apart_resumes_under_the_new_names():
    row = {"epoch": 1, "step": 3, "train_loss_running": 2.5, "train_acc_running": 0.2, "val_acc": 0.4}
    now = History(epoch=1, step=3, train_loss_running=2.5, train_acc_running=0.2, val_acc=0.4, epochs=[row])
    renamed = {"train_loss_running": "train_loss", "train_acc_running": "train_acc"}
    old = {renamed.get(k, k): v for k, v in now.state_dict().items()}
    old["epochs"] = [{renamed.get(k, k): v for k, v in row.items()}]
    resumed = History()
    resumed.load_state_dict(old)
    assert resumed == now


def test_sam_counts_each_batch_once_in_the_train_accuracy(tmp_path):
    """SAM evaluates the closure twice a step; the running accuracy must see the batch once."""
    train(tmp_path, "trainer.max_epochs=2", "optimizer=sam")
    rows = (tmp_path / "epochs.csv").read_text().splitlines()[1:]
    accuracies = [float(row.split(",")[3]) for row in rows]
    assert all(0.5 < acc <= 1.0 for acc in accuracies[1:]), accuracies
