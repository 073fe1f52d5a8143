"""Data-parallel training (trainer.strategy=ddp): two CPU processes over gloo against one process.

The processes are forked from the test (torch is already imported: a spawned one spends seconds
importing) and joined with torchrun's variables on a free port. Equivalence runs use tanh: with ReLU
a pre-activation within float32 rounding of 0 can flip sign after a few dozen steps, and the two
curves then part at 1e-4 for a reason that is no property of the sharding.
"""

import contextlib
import io
import json
import math
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from netopt import distributed
from netopt.errors import UserError
from netopt.nn.norm import BatchNorm1d, BatchNorm2d, BatchNormalization
from netopt.report import step_series
from netopt.state import History
from tests.helpers import FAST, read_metrics, train

DDP = "trainer.strategy=ddp"
TWO_EPOCHS = ["trainer.max_epochs=2", "model.activation=tanh"]
TIMING = {"wall_time_s", "samples_per_s"}


@pytest.fixture(scope="module", autouse=True)
def _warm(tmp_path_factory):
    """One short run here first: what a run imports, the forked processes then start with."""
    train(tmp_path_factory.mktemp("warm"), "debug=fast")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_rank(target: Callable[..., None], rank: int, size: int, port: int, args: tuple) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(size),
    )
    target(rank, *args)


def start(target: Callable[..., None], *args: object, size: int = 2) -> list[multiprocessing.Process]:
    """``target(rank, *args)`` in ``size`` forked processes that torchrun's variables join."""
    port, fork = free_port(), multiprocessing.get_context("fork")
    processes = [fork.Process(target=_as_rank, args=(target, rank, size, port, args)) for rank in range(size)]
    for process in processes:
        process.start()
    return processes


def finish(processes: list[multiprocessing.Process], timeout: float = 120) -> list[int | None]:
    """Wait for the processes (killing any left after ``timeout`` s); their exit codes."""
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()
    return [process.exitcode for process in processes]


def in_processes(target: Callable[..., None], *args: object, size: int = 2) -> None:
    assert finish(start(target, *args, size=size)) == [0] * size


def _train(rank: int, runs: list[tuple[str, list[str]]]) -> None:
    for run_dir, overrides in runs:
        train(Path(run_dir), DDP, *overrides)


def _cli(rank: int, cwd: str, commands: list[list[str]]) -> None:
    """netopt-train with each command's arguments; each rank's exit status and stderr in rank<r>.json."""
    from netopt.cli.train import main

    os.chdir(cwd)
    outcomes = []
    for arguments in commands:
        sys.argv = ["netopt-train", DDP, *FAST, *arguments]
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                main()
                status = 0
            except SystemExit as stop:
                status = stop.code
        outcomes.append([status, err.getvalue()])
    Path(cwd, f"rank{rank}.json").write_text(json.dumps(outcomes))


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(a)))


CASES = {
    # 45 = 23 + 22: unequal shards, weighted so the gradient is the global batch's
    "mlp": ["trainer.batch_size=45"],
    "sync batch norm": ["norm=batch", "norm.sync=true"],
    "sam, clipping, l2": [
        "optimizer=sam",
        "clip=norm",
        "clip.max_norm=0.5",
        "regularization=l2",
        "regularization.l2.strength=0.001",
    ],
    "gradient noise": ["grad_noise=gaussian"],  # the same draw on every process, after averaging
}


@pytest.mark.parametrize("case", CASES)
def test_two_processes_train_as_one_step_for_step(tmp_path, case):
    overrides = [*TWO_EPOCHS, *CASES[case]]
    in_processes(_train, [(str(tmp_path / "ddp"), overrides)])
    one = train(tmp_path / "one", *overrides)
    two = read_metrics(tmp_path / "ddp")
    for tag in ["train/batch_loss", "train/grad_norm"]:
        steps, single = step_series(tmp_path / "one", tag)
        assert np.array_equal(step_series(tmp_path / "ddp", tag)[0], steps)
        assert relative(single, step_series(tmp_path / "ddp", tag)[1]) < 1e-5, tag
    for key in ["train_loss_running", "train_loss", "val_loss", "test_loss"]:
        assert two[key] == pytest.approx(one[key], rel=1e-5), key
    for key in ["train_acc", "val_acc", "test_acc", "steps", "epochs", "status"]:
        assert two[key] == one[key], key
    if case == "sam, clipping, l2":
        _, l2 = step_series(tmp_path / "ddp", "train/l2")
        assert relative(step_series(tmp_path / "one", "train/l2")[1], l2) < 1e-5


def _sync_batch_norm(rank: int, out: str, shards: list[int]) -> None:
    distributed.join("ddp", torch.device("cpu"))
    torch.manual_seed(0)
    inputs = {"1d": torch.randn(sum(shards), 3), "2d": torch.randn(sum(shards), 3, 4, 5) * 3 + 10}
    start = sum(shards[:rank])
    results = {}
    for name, x in inputs.items():
        layer = (BatchNorm1d if name == "1d" else BatchNorm2d)(3, sync=True)
        with torch.no_grad():
            layer.weight.uniform_(0.5, 1.5)
            layer.bias.uniform_(-1, 1)
        mine = x[start : start + shards[rank]].clone().requires_grad_()
        upstream = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
        y = layer(mine)
        (y * upstream[start : start + shards[rank]]).sum().backward()  # the loss of every process, summed
        results[name] = {
            "y": y.detach(),
            "grad_x": mine.grad,
            "grad_weight": layer.weight.grad,
            "grad_bias": layer.bias.grad,
            "running_mean": layer.running_mean,
            "running_var": layer.running_var,
        }
    torch.save(results, Path(out) / f"rank{rank}.pt")


def test_sync_batch_norm_matches_one_process_on_the_concatenated_batch(tmp_path):
    shards = [5, 3]  # unequal: the statistics are the global batch's, not a mean of the two
    in_processes(_sync_batch_norm, str(tmp_path), shards)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    torch.manual_seed(0)
    inputs = {"1d": torch.randn(8, 3), "2d": torch.randn(8, 3, 4, 5) * 3 + 10}
    for name, x in inputs.items():
        layer = torch.nn.BatchNorm1d(3) if name == "1d" else torch.nn.BatchNorm2d(3)  # torch's as the oracle
        with torch.no_grad():
            layer.weight.uniform_(0.5, 1.5)
            layer.bias.uniform_(-1, 1)
        x = x.clone().requires_grad_()
        upstream = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
        y = layer(x)
        (y * upstream).sum().backward()
        got = {key: torch.cat([r[name][key] for r in ranks]) for key in ("y", "grad_x")}
        torch.testing.assert_close(got["y"], y.detach(), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(got["grad_x"], x.grad, rtol=1e-4, atol=1e-5)
        for key, expected in (("grad_weight", layer.weight.grad), ("grad_bias", layer.bias.grad)):
            torch.testing.assert_close(
                ranks[0][name][key] + ranks[1][name][key], expected, rtol=1e-5, atol=1e-5
            )
        for key in ("running_mean", "running_var"):
            torch.testing.assert_close(ranks[0][name][key], getattr(layer, key), rtol=1e-5, atol=1e-6)
            assert torch.equal(ranks[0][name][key], ranks[1][name][key])


def test_only_rank_0_writes_and_a_refusal_ends_every_rank_alike(tmp_path):
    """The CLI on two processes: one run folder (rank 1's own timestamped one is removed), written by
    rank 0 alone; then a fresh run into a folder that holds a run, and a batch the processes cannot
    share, each refused on both ranks with the same line and exit status 2."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text("{}")
    args = ["debug=fast", "model.activation=tanh"]
    commands = [args, [*args, "hydra.run.dir=run"], [*args, "hydra.run.dir=other", "trainer.batch_size=1"]]
    in_processes(_cli, str(tmp_path), commands)
    outcomes = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    runs = list((tmp_path / "outputs" / "runs").iterdir())
    assert len(runs) == 1 and read_metrics(runs[0])["status"] == "completed"
    records = sorted(p.name for p in runs[0].iterdir() if not p.name.startswith("events.out"))
    assert records == [".hydra", ".lock", "checkpoint.pt", "epochs.csv", "metrics.json", "netopt.log"]
    assert len(list(runs[0].glob("events.out.tfevents.*"))) == 1
    assert [o[0][0] for o in outcomes] == [0, 0] and outcomes[1][0][1] == ""  # rank 1 printed nothing
    refused = outcomes[0][1:]
    assert [status for status, _ in refused] == [2, 2] and refused == outcomes[1][1:]
    lines = [err.strip().splitlines() for _, err in refused]
    assert lines[0] == [
        f"netopt-train: error: hydra.run.dir={tmp_path / 'run'}: holds a run already; continue it with "
        "trainer.resume=true or choose another folder"
    ]
    assert len(lines[1]) == 1 and lines[1][0].startswith(
        "netopt-train: error: trainer.batch_size=1: each of the 2 processes needs a sample of every batch"
    )
    assert not (tmp_path / "other").exists()


def test_a_divergence_stops_every_process_at_the_same_step(tmp_path):
    """The loss is all-reduced every step: both processes see NaN at once and end the run (a process
    that trained on would wait forever for the other's gradients)."""
    in_processes(_train, [(str(tmp_path), ["debug=fast", "optimizer.lr=1e12"])])
    metrics = read_metrics(tmp_path)
    assert metrics["status"] == "diverged" and metrics["steps"] <= 3


def test_a_checkpoint_of_another_number_of_processes_is_refused():
    streams = distributed.DataParallel(0, 2, torch.device("cpu")).per_process(History())
    with pytest.raises(UserError, match="written by 3 processes, this run has 2; resume with as many"):
        streams.load_state_dict({"processes": [None] * 3})
    with pytest.raises(UserError, match="written by a single process, this run has 2"):
        streams.load_state_dict(History().state_dict())  # a single process saves the part itself


def test_a_killed_process_leaves_a_resumable_checkpoint(tmp_path):
    """SIGKILL rank 1 after the first checkpoint: rank 0 fails on the broken group, the checkpoint
    stays, and two processes resume it to the metrics of a run never stopped."""
    args = [*TWO_EPOCHS, "trainer.max_epochs=3", "trainer.batch_size=8", "dataset.train_size=300"]
    killed = tmp_path / "killed"
    processes = start(_train, [(str(killed), args)])
    deadline = time.monotonic() + 120
    while not (killed / "checkpoint.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(processes[1].pid, signal.SIGKILL)
    assert finish(processes)[1] == -signal.SIGKILL
    before = torch.load(killed / "checkpoint.pt", weights_only=True)["history"]["epoch"]
    assert 1 <= before < 3 and read_metrics(killed)["status"] == "failed"
    assert read_metrics(killed)["error"].startswith(
        "trainer.strategy=ddp: another process of the run stopped ("
    )
    in_processes(_train, [(str(killed), [*args, "trainer.resume=true"]), (str(tmp_path / "straight"), args)])
    resumed, straight = read_metrics(killed), read_metrics(tmp_path / "straight")
    assert {k: v for k, v in resumed.items() if k not in TIMING} == {
        k: v for k, v in straight.items() if k not in TIMING
    }
    assert len(step_series(killed, "train/batch_loss")[1]) == resumed["steps"]
    assert math.isfinite(resumed["test_acc"])


def test_a_killed_process_is_one_line_on_the_others(tmp_path):
    """netopt-train on two processes, rank 1 killed: rank 0 ends with one line and exit status 2,
    not gloo's traceback."""
    folder = tmp_path / "run"
    args = [*TWO_EPOCHS, "trainer.max_epochs=50", "trainer.batch_size=8", f"hydra.run.dir={folder}"]
    processes = start(_cli, str(tmp_path), [args])
    deadline = time.monotonic() + 120
    while not (folder / "checkpoint.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(processes[1].pid, signal.SIGKILL)
    assert finish(processes)[0] == 0  # _cli caught the SystemExit and wrote rank0.json
    ((status, err),) = json.loads((tmp_path / "rank0.json").read_text())
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("netopt-train: error: trainer.strategy=ddp: another process of the run stopped (")
    assert "resume with trainer.resume=true on 2 processes" in err
    assert read_metrics(folder)["status"] == "failed"


# --- in one process: the refusals that need no process group --------------------------------------
def test_only_a_lost_peer_becomes_the_one_line():
    world = distributed.DataParallel(0, 2, torch.device("cpu"))
    gloo = RuntimeError(
        "[/x/gloo/pair.cc:561] Connection closed by peer [127.0.0.1]:1. This is typically ..."
    )
    assert str(world.lost(gloo)) == (
        "trainer.strategy=ddp: another process of the run stopped (Connection closed by peer [127.0.0.1]:1); "
        "the last epoch's checkpoint is kept: resume with trainer.resume=true on 2 processes"
    )
    assert world.lost(UserError("trainer.device=mps: gloo or nccl only")) is None  # a refusal stays itself
    assert world.lost(ValueError("a bug")) is None and distributed.World().lost(gloo) is None


def test_join_refuses_what_cannot_run(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("SUBMITIT_EXECUTOR", raising=False)
    with pytest.raises(
        UserError, match="trainer.strategy=ddp: no processes to train with; start it with torchrun"
    ):
        distributed.join("ddp", cpu)
    world, device = distributed.join("single", cpu)
    assert (world.rank, world.size, world.is_main, device) == (0, 1, True, cpu)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(
        UserError, match="trainer.strategy=single: this is one of 2 processes started together"
    ):
        distributed.join("single", cpu)


def test_a_sweep_under_torchrun_is_refused(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    status, err = cli("-m", "debug=fast", "optimizer.lr=0.1,0.2", "hydra.sweep.dir=sweep")
    assert status == 2 and err.strip().splitlines() == [
        "netopt-train: error: hydra.mode=MULTIRUN: started as 2 processes, each would run the whole sweep; "
        f"run single runs with {distributed.LAUNCH}, sweep data-parallel jobs with hydra/launcher=slurm"
    ]
    assert not (tmp_path / "sweep").exists()


def test_check_batches_counts_the_last_batch():
    world = distributed.DataParallel(0, 4, torch.device("cpu"))
    world.check_batches(100, 10, None)  # 10 batches of 10
    world.check_batches(104, 10, None)  # the last holds 4, one a process
    with pytest.raises(UserError, match="the last batch of the 102 training samples holds 2"):
        world.check_batches(102, 10, None)
    world.check_batches(102, 10, 5)  # with a limit the last is never drawn
    with pytest.raises(UserError, match="trainer.batch_size=3: each of the 4 processes"):
        world.check_batches(100, 3, None)


def test_sync_batch_norm_in_one_process_is_batch_norm():
    torch.manual_seed(0)
    x = torch.randn(6, 4, 3, 3)
    plain, synced = (
        BatchNormalization().after_affine(4, True),
        BatchNormalization(sync=True).after_affine(4, True),
    )
    torch.testing.assert_close(plain(x), synced(x), rtol=0, atol=0)
    assert torch.equal(plain.running_var, synced.running_var) and "sync=True" in repr(synced)


# --- through the launchers, in processes of their own ------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]


def launch(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path):
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={free_port()}",
    ]
    done = launch([*torchrun, "-m", "netopt.cli.train", DDP, *FAST, *TWO_EPOCHS], tmp_path)
    assert done.returncode == 0, done.stderr
    (run,) = (tmp_path / "outputs" / "runs").iterdir()
    assert read_metrics(run)["status"] == "completed" and read_metrics(run)["epochs"] == 2


@pytest.mark.slow
def test_slurm_tasks_through_submitit_local(tmp_path):
    """hydra/launcher=slurm's code path without SLURM: each job two tasks of submitit's local executor,
    joined from submitit's environment."""
    args = ["-m", "hydra/launcher=submitit_local", "hydra.launcher.tasks_per_node=2", DDP, *FAST]
    args += [*TWO_EPOCHS, "optimizer.lr=0.1", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    done = launch([sys.executable, "-m", "netopt.cli.train", *args], tmp_path)
    assert done.returncode == 0, done.stderr
    train(tmp_path / "one", *TWO_EPOCHS)
    steps, two = step_series(tmp_path / "sweep" / "000", "train/batch_loss")  # the sweep's only job
    assert relative(step_series(tmp_path / "one", "train/batch_loss")[1], two) < 1e-5 and len(steps) > 0
    logs = sorted((tmp_path / "sweep" / ".submitit").glob("*/*_1_log.out"))
    assert logs and "global_rank=1(2)" in logs[0].read_text()
