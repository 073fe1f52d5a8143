"""Bad input, careless or hostile: every case ends with its exit status, one line on stderr and no
traceback, and leaves every existing file as it was (and no new folder that looks like a run).

Composition and value mistakes run in-process (the CLI's own ``main``); run folders, locks,
resumes, Ctrl-C and a full disk run real ``netopt-train`` processes.
"""

import fcntl
import functools
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.helpers import FAST, read_metrics, train
from tests.test_report import completed, fake_run

NETOPT_TRAIN = Path(sys.executable).with_name("netopt-train")


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with the hash of its content."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def assert_one_line(status: int, err: str, expected_status: int, pattern: str) -> None:
    lines = err.strip().splitlines()
    assert status == expected_status, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.search(pattern, lines[0]), lines[0]


def netopt(*args: str, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [NETOPT_TRAIN, *args, *FAST], cwd=cwd, capture_output=True, text=True, timeout=300, **kwargs
    )


# --- mistakes in the config: refused while composing or by the dry build, before anything is written --

CONFIG_MISTAKES = [
    # unknown options, keys and types
    (["optimizer=adamm"], r"optimizer=adamm: no such option; choose one of adadelta, adafactor, adagrad"),
    (["scheduler=cosin"], r"scheduler=cosin: no such option"),
    (
        ["optimizer.foo=1"],
        r"optimizer.foo: unknown key; allowed: dampening, foreach, lr, maximize, momentum, nesterov",
    ),
    (["+optimizer.foo=1"], r"optimizer.foo: unknown key; allowed: dampening, foreach"),
    (["+optimiser.lr=0.5"], r"optimiser: unknown key; allowed: augmentation, averaging, clip"),
    (["nonsense=1"], r"nonsense: unknown key; allowed:"),
    (["trainer.max_epochs=abc"], r"trainer.max_epochs: Value 'abc' of type 'str' could not be converted"),
    (["trainer.batch_size=1.5"], r"trainer.batch_size: Value '1.5' of type 'float' could not be converted"),
    (["norm=batch", "norm.eps=abc"], r"norm.eps: Value 'abc' of type 'str' could not be converted"),
    (["model.depth=[1]"], r"model.depth: Value '\[1\]' of type 'list' could not be converted"),
    (["regularization=early_stopping"], r"early stopping is a group of its own: early_stopping=val_loss"),
    (
        ["regularization.l2=1e-4"],
        r"^netopt-train: error: regularization.l2: moved to regularization.l2.strength, with",
    ),
    (
        ["regularization=l2", "regularization.l2=1e-4"],
        r"regularization.l2: moved to regularization.l2.strength",
    ),
    (["optimizer=sam", "optimizer/base=adam"], r"optimizer@optimizer.base=<option>"),
    (
        ["trainer.sharpness_every=5"],
        r"error: trainer.sharpness_every: moved; use probes=sharpness probes.sharpness.every=N$",
    ),
    (
        ["trainer.layer_sharpness=true"],
        r"trainer.layer_sharpness: moved; use probes=sharpness probes.sharpness.per_layer",
    ),
    (
        ["trainer.diagnostics_every=10"],
        r"trainer.diagnostics_every: moved; use probes=\[layer_stats,effective_lr\]",
    ),
    (
        ["trainer.mc_samples=20"],
        r"trainer.mc_samples: moved; use probes=mc_dropout probes.mc_dropout.samples=N",
    ),
    (
        ["optimizer.grad_noise=0.01"],
        r"^netopt-train: error: optimizer.grad_noise: gradient noise is a group of its own: "
        r"grad_noise=gaussian grad_noise.eta=<eta>$",
    ),
    (
        ["optimizer.grad_noise_decay=0.3"],
        r"optimizer.grad_noise_decay: .*: grad_noise=gaussian grad_noise.gamma",
    ),
    (
        ["optimizer=sam", "optimizer.base.grad_noise=0.1"],
        r"optimizer.base.grad_noise: .* grad_noise.eta=<eta>$",
    ),
    (
        ["optimizer.compile=true"],
        r"^netopt-train: error: optimizer.compile: compiling the update is a trainer option: "
        r"trainer.compile_optimizer=true$",
    ),
    (["grad_noise.eta=-1"], r"^netopt-train: error: grad_noise.eta=-1.0: must be finite and >= 0$"),
    (["grad_noise=gaussian", "grad_noise.gamma=abc"], r"grad_noise.gamma: Value 'abc' of type 'str'"),
    (["grad_noise=uniform"], r"grad_noise=uniform: no such option; choose one of gaussian, none"),
    # values, each checked by its component and named by its full key
    (["optimizer.lr=-1"], r"^netopt-train: error: optimizer.lr=-1.0: must be finite and >= 0$"),
    (["optimizer.lr=nan"], r"optimizer.lr=nan: must be finite and >= 0"),
    (["optimizer.lr=inf"], r"optimizer.lr=inf: must be finite and >= 0"),
    (["optimizer.weight_decay=-0.1"], r"optimizer.weight_decay=-0.1: must be finite and >= 0"),
    (["optimizer.momentum=1.5"], r"optimizer.momentum=1.5: must be in \[0, 1\)"),
    (["optimizer.dampening=2"], r"optimizer.dampening=2.0: must be in \[0, 1\]"),
    (["optimizer=nesterov", "optimizer.momentum=0"], r"optimizer.nesterov=True: must be used with"),
    (
        ["optimizer=adam", "optimizer.betas=[0.9,0.99,0.9]"],
        r"optimizer.betas=\[0.9, 0.99, 0.9\]: must be a list of 2",
    ),
    (["optimizer=adam", "optimizer.betas=[0.9,1.0]"], r"optimizer.betas\[1\]=1.0: must be in \[0, 1\)"),
    (["optimizer=adam", "optimizer.eps=-1"], r"optimizer.eps=-1.0: must be finite and >= 0"),
    (["optimizer=rmsprop", "optimizer.alpha=1"], r"optimizer.alpha=1.0: must be in \[0, 1\)"),
    (["optimizer=adadelta", "optimizer.rho=1.5"], r"optimizer.rho=1.5: must be in \[0, 1\]"),
    (["optimizer=sam", "optimizer.rho=-0.1"], r"optimizer.rho=-0.1: must be finite and >= 0"),
    (["optimizer=sam", "optimizer.base.lr=-1"], r"optimizer.base.lr=-1.0: must be finite and >= 0"),
    (["clip=value", "clip.interval=[0.1]"], r"clip.interval=\[0.1\]: must be null while clip_value is set"),
    (
        ["clip=value", "clip.clip_value=null", "clip.interval=[0.1]"],
        r"clip.interval=\[0.1\]: must be a list of 2",
    ),
    (["clip=norm", "clip.max_norm=0"], r"clip.max_norm=0.0: must be finite and > 0"),
    (["clip=value", "clip.clip_value=-1"], r"clip.clip_value=-1.0: must be finite and >= 0"),
    (["trainer.seed=-1"], r"trainer.seed=-1: must be in \[0, "),
    (["trainer.max_epochs=0"], r"trainer.max_epochs=0: must be a whole number >= 1"),
    (["trainer.resume=maybe"], r"trainer.resume=maybe: must be true, false or auto"),
    (
        ["trainer.device=meta"],
        r"trainer.device=meta: not available here \(meta is not a device to train on\)",
    ),
    (["trainer.device=cuda:7"], r"trainer.device=cuda:7: not available here"),
    (["trainer.device=mps"], r"trainer.device=mps: not available here"),
    (["trainer.device=tpu"], r"trainer.device=tpu: not available here"),
    (["scheduler.warmup=25"], r"scheduler.warmup=25: must be shorter than the run \(20 epochs\)"),
    (
        ["scheduler=step", "scheduler.milestones=[5,3]"],
        r"scheduler.milestones=\[5.0, 3.0\]: must be strictly",
    ),
    (
        ["scheduler=plateau", "scheduler.mode=max"],
        r"scheduler.mode=max: must be min \(or null\) for val_loss",
    ),
    (["early_stopping=val_acc", "early_stopping.mode=min"], r"early_stopping.mode=min: must be max"),
    (["early_stopping.monitor=val_ac"], r"early_stopping.monitor=val_ac: must be one of val_loss, val_acc"),
    # probes: their values, and a monitor that only a probe the run does not have produces
    (
        ["probes=sharpness", "probes.sharpness.every=0"],
        r"probes.sharpness.every=0: must be a whole number >= 1",
    ),
    (
        ["probes=sharpness", "probes.sharpness.evry=2"],
        r"probes.sharpness.evry: unknown key; allowed: at_loss, at_step, every, per_layer",
    ),
    (
        ["probes=sharpnes"],
        r"probes=sharpnes: no such option; choose one of activation_histograms, effective_lr, layer_stats",
    ),
    (["probes.sharpness.every=2"], r"probes.sharpness: unknown key"),
    (["probes=net_input"], r"probes=net_input: measures a model of model=rnn only, not MLP"),
    (
        ["early_stopping=val_loss", "early_stopping.monitor=sharpness"],
        r"early_stopping.monitor=sharpness: must be one of val_loss, val_acc, val_ece, train_loss_running, "
        r"train_acc_running$",
    ),
    # the old names of the running values (now the evaluation pass at the end) point to the new ones
    (
        ["early_stopping=val_acc", "early_stopping.monitor=train_acc"],
        r"early_stopping.monitor=train_acc: must be train_acc_running \(train_acc is the evaluation at the "
        r"end, train_acc_running is over each epoch's batches\)$",
    ),
    (
        ["scheduler=plateau", "scheduler.monitor=train_loss"],
        r"scheduler.monitor=train_loss: must be train_loss_running ",
    ),
    (
        ["probes=[layer_stats,sharpness]", "scheduler=plateau", "scheduler.monitor=sharpnes"],
        r"scheduler.monitor=sharpnes: must be one of val_loss, val_acc, val_ece, train_loss_running, "
        r"train_acc_running, sharpness, hessian_trace$",
    ),
    (
        [
            "probes=sharpness",
            "early_stopping=val_loss",
            "early_stopping.monitor=sharpness",
            "early_stopping.mode=max",
        ],
        r"early_stopping.mode=max: must be min \(or null\) for sharpness",
    ),
    (
        ["dataset.val_fraction=0", "early_stopping=val_loss"],
        r"early_stopping.monitor=val_loss: needs a validation",
    ),
    (["dataset.val_fraction=0", "scheduler=plateau"], r"scheduler.monitor=val_loss: needs a validation set"),
    (["dataset.val_fraction=1"], r"dataset.val_fraction=1.0: must be in \[0, 1\)"),
    (["dataset.train_size=0"], r"dataset.train_size=0: must be a whole number >= 1"),
    (["preprocess.eps=0"], r"preprocess.eps=0.0: must be finite and > 0"),
    (["preprocess=zca_whiten", "preprocess.eps=0"], r"preprocess.eps=0.0: must be finite and > 0"),
    (["model=cnn", "model.channels=[8,8,8,8]"], r"model.channels=\[8, 8, 8, 8\]: must be at most 3 blocks"),
    (["model.width=0"], r"model.width=0: must be a whole number >= 1"),
    (["model.activation=swishy"], r"model.activation=swishy: must be one of relu, tanh"),
    (["model=mlp", "norm=group", "norm.num_groups=5"], r"norm.num_groups=5: must divide every layer width"),
    (["augmentation.rotate_p=2"], r"augmentation.rotate_p=2.0: must be in \[0, 1\]"),
    (["augmentation.scale=[0.9]"], r"augmentation.scale=\[0.9\]: must be a list of 2"),
    (["augmentation.degrees=200"], r"augmentation.degrees=200.0: must be in \[0, 180\]"),
    (
        ["regularization=dropout", "regularization.dropout.p=1.0"],
        r"regularization.dropout.p=1.0: must be in \[0, 1\)",
    ),
    (
        ["regularization=l2", "regularization.l2.strength=-1"],
        r"regularization.l2.strength=-1.0: must be finite and >= 0",
    ),
    (["model.dropout=1.0"], r"model.dropout=1.0: must be in \[0, 1\)"),
    (
        ["regularization=dropout", "model.dropout=0.3"],
        r"model.dropout=0.3: also set by regularization.dropout; set one",
    ),
    (
        ["regularization=l2", "regularization.l2.foo=1"],
        r"regularization.l2.foo: unknown key; allowed: penalize_all, strength$",
    ),
    (["init=gaussian", "init.std=0"], r"init.std=0.0: must be finite and > 0"),
    (["init.gain=-1"], r"init.gain=-1.0: must be > 0"),
    (["init.mode=fan_out2"], r"init.mode=fan_out2: must be one of fan_in, fan_out"),
    # data and files that are not there
    (["dataset=mnist", "dataset.root=nowhere"], r"dataset.root=nowhere: no MNIST files found there"),
    (["init=pretrained", "init.path=missing.pt"], r"init.path: no checkpoint at missing.pt"),
    (["trainer.resume=true"], r"trainer.resume=true: no checkpoint in .* to continue from"),
    # sweeps: settings of the search, and a mistake every job would repeat
    (["hparams_search=lr_random", "hydra.sweeper.n_trials=0"], r"hydra.sweeper.n_trials=0: must be a whole"),
    (["hparams_search=lr_random", "hydra.sweeper.batch_size=0"], r"hydra.sweeper.batch_size=0: must be"),
    (["hparams_search=lr_bayes", "hydra.sweeper.n_initial=0"], r"hydra.sweeper.n_initial=0: must be"),
    (["hparams_search=hyperband", "hydra.sweeper.n_brackets=0"], r"hydra.sweeper.n_brackets=0: must be"),
    (["-m", "optimizer=sgd,adam", "optimizer.lr=-1"], r"optimizer.lr=-1.0: must be finite and >= 0"),
    (["-m", "optimizer=sgd,adam", "dataset.val_fraction=0"], r"summary.metric=val_acc: needs a validation"),
    (
        ["-m", "optimizer=sgd,adam", "hydra.callbacks.summary.metric=sharpness"],
        r"hydra.callbacks.summary.metric=sharpness: must be one of val_loss, val_acc, val_ece, "
        r"train_loss_running, train_acc_running, train_loss, train_acc,",
    ),
    (
        ["-m", "optimizer=sgd,adam", "probes=sharpness", "hydra.callbacks.summary.metric=sharpness"]
        + ["hydra.callbacks.summary.direction=maximize"],
        r"hydra.callbacks.summary.direction=maximize: must be minimize for sharpness$",
    ),
    (
        ["-m", "optimizer=sgd,adam", "hydra.callbacks.summary.metric=generalization_gap"],
        r"hydra.callbacks.summary.direction=None: must be maximize or minimize for generalization_gap$",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "pattern"), CONFIG_MISTAKES, ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_a_config_mistake_is_one_line_and_leaves_no_file(cli, tmp_path, overrides, pattern):
    status, err = cli(*overrides)
    assert_one_line(status, err, 2, pattern)
    assert snapshot(tmp_path) == {}  # no run folder, no metrics.json, no log


def test_hydra_full_error_keeps_its_meaning(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")
    status, err = cli("optimizer=adamm")
    assert_one_line(status, err, 2, "optimizer=adamm: no such option")


# --- files that are there but wrong -----------------------------------------------------------------


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished one-epoch MLP run (a checkpoint, metrics.json, events)."""
    run_dir = tmp_path_factory.mktemp("finished")
    train(run_dir, "debug=fast")
    return run_dir


@pytest.fixture
def earlier(finished, tmp_path) -> Path:
    """A copy of the finished run, in this test's folder."""
    return Path(shutil.copytree(finished, tmp_path / "earlier"))


def test_pretrained_weights_of_another_model_are_refused_naming_the_keys(cli, earlier):
    before = snapshot(earlier)
    status, err = cli("model=cnn", "init=pretrained", f"init.path={earlier / 'checkpoint.pt'}")
    assert_one_line(
        status, err, 2, r"init.path=.*: the checkpoint does not fit the model: .*init.strict=false"
    )
    assert snapshot(earlier) == before


def test_a_file_that_is_not_a_checkpoint_is_refused(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    status, err = cli("init=pretrained", "init.path=notes.txt")
    assert_one_line(status, err, 2, r"init.path: notes.txt is not a readable checkpoint")


def test_a_truncated_checkpoint_is_refused_and_kept(cli, earlier):
    data = (earlier / "checkpoint.pt").read_bytes()
    (earlier / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    before = snapshot(earlier)
    status, err = cli("debug=fast", "trainer.resume=true", f"hydra.run.dir={earlier}")
    assert_one_line(status, err, 2, r"trainer.resume: .*checkpoint.pt is not a readable checkpoint")
    assert snapshot(earlier) == before


# --- run folders: never overwritten, resumed only into the same run ---------------------------------


def test_a_fresh_run_into_a_folder_holding_a_run_is_refused(earlier):
    before = snapshot(earlier)
    done = netopt("debug=fast", f"hydra.run.dir={earlier}", cwd=earlier.parent)
    assert_one_line(
        done.returncode, done.stderr, 2, r"holds a run already; continue it with trainer.resume=true"
    )
    assert snapshot(earlier) == before


def test_the_current_folder_holding_a_run_is_refused(cli, earlier, monkeypatch):
    before = snapshot(earlier)
    monkeypatch.chdir(earlier)
    status, err = cli("debug=fast", "hydra.run.dir=.")
    assert_one_line(status, err, 2, r"hydra.run.dir=.*: holds a run already")
    assert snapshot(earlier) == before


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (["optimizer=adam"], r"optimizer._target_: netopt.optim.SGD -> netopt.optim.Adam"),
        (["optimizer.lr=0.05"], r"optimizer.lr: 0.1 -> 0.05"),
        (["dataset.split_seed=3"], r"dataset.split_seed: 0 -> 3"),
        (["trainer.batch_size=32"], r"trainer.batch_size: 64 -> 32"),
    ],
)
def test_resume_with_other_settings_is_refused_listing_them(cli, earlier, change, pattern):
    before = snapshot(earlier)
    status, err = cli("debug=fast", "trainer.resume=true", f"hydra.run.dir={earlier}", *change)
    assert_one_line(status, err, 2, r"trainer.resume: the checkpoint in .* was trained with other settings")
    assert re.search(pattern, err) and re.search(r"only name, trainer.max_epochs, .* may change", err)
    assert snapshot(earlier) == before


def test_a_resume_in_a_real_process_refuses_other_settings(earlier):
    before = snapshot(earlier)
    done = netopt(
        "debug=fast", "trainer.resume=true", f"hydra.run.dir={earlier}", "optimizer=adam", cwd=earlier
    )
    assert_one_line(
        done.returncode, done.stderr, 2, r"optimizer._target_: netopt.optim.SGD -> netopt.optim.Adam"
    )
    assert snapshot(earlier) == before


def test_a_typo_while_resuming_a_finished_run_changes_nothing(cli, earlier):
    before = snapshot(earlier)
    status, err = cli("debug=fast", "trainer.resume=true", f"hydra.run.dir={earlier}", "optimizer.lrr=1")
    assert_one_line(status, err, 2, r"optimizer.lrr: unknown key")
    assert snapshot(earlier) == before and read_metrics(earlier)["status"] == "completed"


def test_resume_may_extend_the_run_and_auto_starts_fresh_without_a_checkpoint(cli, earlier, tmp_path):
    status, _ = cli("debug=fast", "trainer.resume=true", f"hydra.run.dir={earlier}", "trainer.max_epochs=2")
    assert status == 0 and read_metrics(earlier)["epochs"] == 2
    status, _ = cli("debug=fast", "trainer.resume=auto", f"hydra.run.dir={tmp_path / 'new'}")
    assert status == 0 and read_metrics(tmp_path / "new")["status"] == "completed"


def test_a_folder_that_cannot_be_created_is_one_line(cli, tmp_path):
    (tmp_path / "a_file").write_text("")
    status, err = cli("debug=fast", "hydra.run.dir=a_file/run")
    assert_one_line(status, err, 2, r"a_file/run.*Not a directory")


def test_a_folder_in_use_names_the_process_holding_it(tmp_path):
    folder = tmp_path / "busy"
    folder.mkdir()
    with open(folder / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        done = netopt("debug=fast", f"hydra.run.dir={folder}", cwd=tmp_path)
    assert_one_line(done.returncode, done.stderr, 2, rf"in use by process {os.getpid()}; wait for it")
    assert sorted(p.name for p in folder.iterdir()) == [".lock"]


def test_two_processes_on_one_folder_one_trains_the_other_is_refused(tmp_path):
    folder = tmp_path / "shared"
    args = [NETOPT_TRAIN, "trainer.max_epochs=2", *FAST, f"hydra.run.dir={folder}"]
    procs = [subprocess.Popen(args, cwd=tmp_path, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = sorted((p.wait(timeout=300), p.stderr.read()) for p in procs)  # type: ignore[union-attr]
    assert [status for status, _ in outcomes] == [0, 2], outcomes
    assert_one_line(*outcomes[1], 2, r"(in use by process \d+|holds a run already)")
    assert read_metrics(folder)["status"] == "completed"


def start_until(args: list, cwd: Path, until: Path) -> subprocess.Popen:
    """Start ``args`` as from a terminal (a process started in the background of a script inherits
    SIGINT ignored) and wait until ``until`` exists."""
    default_sigint = functools.partial(signal.signal, signal.SIGINT, signal.SIG_DFL)
    proc = subprocess.Popen(args, cwd=cwd, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    deadline = time.monotonic() + 120
    while not until.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return proc


def test_ctrl_c_ends_interrupted_and_the_checkpoint_resumes(tmp_path):
    folder = tmp_path / "run"
    args = [NETOPT_TRAIN, "trainer.max_epochs=100000", *FAST, f"hydra.run.dir={folder}"]  # never ends
    proc = start_until(args, tmp_path, folder / "checkpoint.pt")
    time.sleep(0.2)  # into the next epoch
    proc.send_signal(signal.SIGINT)
    assert_one_line(proc.wait(timeout=120), proc.stderr.read(), 130, r"interrupted; the last epoch's")  # type: ignore[union-attr]
    metrics = read_metrics(folder)
    assert metrics["status"] == "interrupted" and metrics["epochs"] >= 1
    epochs = torch.load(folder / "checkpoint.pt", weights_only=True)["history"]["epoch"]
    more = f"trainer.max_epochs={epochs + 2}"  # a run may be extended on resume
    resumed = netopt(more, "trainer.resume=true", f"hydra.run.dir={folder}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert read_metrics(folder)["status"] == "completed" and read_metrics(folder)["epochs"] == epochs + 2


def _file_size_limit(size: int):
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


def test_a_full_disk_is_one_line_and_leaves_nothing_half_written(tmp_path):
    folder = tmp_path / "full"
    done = netopt(
        "model.width=512", f"hydra.run.dir={folder}", cwd=tmp_path, preexec_fn=_file_size_limit(200_000)
    )
    assert_one_line(done.returncode, done.stderr, 2, r"checkpoint.pt: cannot write it \(File too large\)")
    assert not (folder / "checkpoint.pt.tmp").exists() and not (folder / "checkpoint.pt").exists()
    assert read_metrics(folder)["status"] == "failed"


# --- netopt-trajectories and netopt-landscape (issue 25, i25-fast) ------------------------------------


def _command(main, capsys, *args: str) -> tuple[int, str]:
    """Call a command's ``main`` in-process with ``args``; (exit status, stderr)."""
    try:
        main(list(args))
        status = 0
    except SystemExit as stop:
        status = stop.code
    return status, capsys.readouterr().err


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        ("steps.saddle=-5", r"steps.saddle=-5: must be a whole number >= 1"),
        ("start.saddle=[nan,0.0]", r"start.saddle=\[nan, 0.0\]: must be null or two finite numbers"),
        ("start.saddle=[1.0]", r"start.saddle=\[1.0\]: must be null or two finite numbers"),
        ("seeds=[2^70]", r"seeds=\[2\^70\]: cannot be read"),
        ("seeds=[1180591620717411303424]", r"seeds=\[1180591620717411303424\]: must be whole numbers in"),
        ("noise=[nan]", r"noise=\[nan\]: must be a list of finite values >= 0"),
        ("optimizer=adamm", r"optimizer=adamm: no such option; choose one of adadelta, adafactor, adagrad"),
        ("function=himmelblau", r"functions: no such function himmelblau; choose from sphere"),
    ],
)
def test_a_trajectories_mistake_is_one_line_before_any_path(capsys, tmp_path, override, pattern):
    from netopt.cli.trajectories import main

    status, err = _command(main, capsys, f"out={tmp_path / 'out'}", "function=saddle", override)
    assert_one_line(status, err, 2, pattern)
    assert not (tmp_path / "out").exists()


def test_trajectories_into_a_folder_holding_an_earlier_run_is_refused(capsys, tmp_path):
    from netopt.cli.trajectories import main

    out = tmp_path / "out"
    first = ["function=sphere", "optimizer=sgd", "steps.sphere=3"]
    assert _command(main, capsys, f"out={out}", *first)[0] == 0
    before = snapshot(out)
    status, err = _command(main, capsys, f"out={out}", "function=saddle", "optimizer=adam")
    assert_one_line(status, err, 2, rf"out={out}: holds an earlier run's files; choose a new folder")
    assert snapshot(out) == before  # not mixed


def test_trajectories_into_an_unwritable_folder_is_one_line(capsys, tmp_path):
    from netopt.cli.trajectories import main

    (tmp_path / "file").write_text("a file, not a folder")
    status, err = _command(main, capsys, f"out={tmp_path / 'file' / 'out'}", "function=sphere")
    assert_one_line(status, err, 2, r"out=.*/file/out: cannot write there \(Not a directory\)")


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--span", "inf"], r"--span=inf: must be finite and > 0"),
        (["--span", "nan"], r"--span=nan: must be finite and > 0"),
        (["--points", "100000"], r"--points=100000: the 100000 x 100000 grid needs about .* TB of memory"),
        (["--points", "1"], r"--points=1: must be a whole number >= 2"),
        (["--seed", "2^70"], r"argument --seed: invalid int value: '2\^70'"),
        (["--seed", str(2**70)], rf"--seed={2**70}: must be in \[0, "),
    ],
)
def test_a_landscape_mistake_is_one_line_and_changes_nothing(capsys, earlier, args, pattern):
    from netopt.cli.landscape import main

    before = snapshot(earlier)
    assert_one_line(*_command(main, capsys, str(earlier), *args), 2, pattern)
    assert snapshot(earlier) == before


def test_a_landscape_of_a_read_only_run_folder_is_one_line(capsys, earlier, monkeypatch):
    import builtins

    from netopt.cli.landscape import main

    before = snapshot(earlier)
    real_open = builtins.open

    def read_only(file, mode="r", *args, **kwargs):  # root writes anyway: refuse as for a user
        if any(m in mode for m in "wax+") and Path(file).resolve().parent == earlier.resolve():
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", read_only)
    status, err = _command(main, capsys, str(earlier), "--points", "3")
    assert_one_line(status, err, 2, r"RUN_DIR=.*earlier: cannot write there \(Permission denied\); nothing")
    assert snapshot(earlier) == before


# --- netopt-report on hostile input: every run counted, impossible numbers marked, one line for a bad file --


def report(folder: Path, *args: str, capsys) -> tuple[int, str]:
    """netopt-report in-process: its exit status and stderr."""
    from netopt.cli.report import main

    try:
        main([str(folder), *args])
    except SystemExit as stop:
        return int(stop.code or 0), capsys.readouterr().err
    return 0, capsys.readouterr().err


def six_jobs(folder: Path) -> Path:
    """A 6-job sweep: 2 completed, 2 diverged, and 2 that failed before their run wrote metrics.json
    (only the sweep's trial.json says so)."""
    for job in range(6):
        overrides = [f"optimizer={('sgd', 'adam', 'momentum')[job // 2]}", f"trainer.seed={job % 2}"]
        status = ("completed", "diverged", "failed")[job // 2]
        run = fake_run(folder / str(job), overrides, completed(0.9) | {"status": status})
        if status == "failed":
            (run / "metrics.json").unlink()
            trial = {
                "trial": job,
                "params": {},
                "status": "failed",
                "error": "ValueError: boom",
                "metrics": {},
            }
            (run / "trial.json").write_text(json.dumps(trial))
    return folder


def test_the_report_counts_and_shows_failed_jobs_that_left_no_metrics(tmp_path, capsys):
    assert report(six_jobs(tmp_path), capsys=capsys) == (0, "")
    md = (tmp_path / "report.md").read_text()
    assert "6 runs (2 completed, 2 diverged, 2 failed) in 3 configurations" in md
    assert "`4`: failed (optimizer=momentum, seed 0): ValueError: boom" in md


def test_a_killed_job_is_shown_incomplete_and_its_settings_count_as_swept(tmp_path, capsys):
    fake_run(tmp_path / "0", ["optimizer=sgd"], completed(0.9))
    (fake_run(tmp_path / "1", ["optimizer=adam"], {}) / "metrics.json").unlink()  # kill -9: .hydra only
    assert report(tmp_path, capsys=capsys) == (0, "")
    md = (tmp_path / "report.md").read_text()
    assert "2 runs (1 completed, 1 incomplete) in 2 configurations; swept: optimizer." in md
    assert "`1`: incomplete (optimizer=adam, seed 0): no metrics.json: the job was killed" in md


def test_an_unknown_metric_is_refused_listing_the_available_ones(tmp_path, capsys):
    fake_run(tmp_path / "0", ["optimizer=sgd"], completed(0.9))
    status, err = report(tmp_path, "--metric", "bogus", capsys=capsys)
    assert_one_line(status, err, 2, r"--metric bogus: not a metric of these runs; they report: .*val_acc")
    assert not (tmp_path / "report.md").exists()
    assert report(tmp_path, "--metric", "val_loss@2", capsys=capsys)[0] == 2  # no epochs.csv column


@pytest.mark.parametrize(
    "bad, problem",
    [
        ('"val_acc": "0.9"', "val_acc='0.9' is not a number"),
        ('"val_acc": NaN', "val_acc=nan is not finite"),
        ('"val_acc": 1e999', "val_acc=inf is not finite"),
        ('"val_acc": 1.5', r"val_acc=1.5 is not in \[0, 1\]"),
        ('"wall_time_s": -3', "wall_time_s=-3 is negative"),
    ],
)
def test_impossible_numbers_mark_the_record_invalid_and_out_of_the_estimates(tmp_path, capsys, bad, problem):
    for seed in range(2):
        fake_run(tmp_path / str(seed), ["optimizer=sgd", f"trainer.seed={seed}"], completed(0.5))
    text = json.dumps(completed(0.5)).replace("}", ", " + bad + "}")
    (tmp_path / "1" / "metrics.json").write_text(text)
    assert report(tmp_path, capsys=capsys) == (0, "")
    md = (tmp_path / "report.md").read_text()
    assert "2 runs (1 completed, 1 invalid)" in md
    assert re.search(rf"`1`: invalid \(optimizer=sgd, seed 1\): metrics.json: {problem}", md), md
    assert "| 0.500 |" in md  # the valid run alone: no interval from the invalid one


def test_a_difference_of_accuracies_may_be_negative(tmp_path, capsys):
    """mc_acc_gain, test_acc_mc - test_acc, is below 0 when the Monte-Carlo average is less accurate."""
    fake_run(tmp_path / "0", ["optimizer=sgd"], completed(0.5) | {"mc_acc_gain": -0.01})
    assert report(tmp_path, capsys=capsys) == (0, "")
    assert "invalid" not in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize(
    "file, content, message",
    [
        ("0/metrics.json", "[1, 2]", r"0/metrics.json: not a JSON object of metrics \(it holds a list\)"),
        ("0/epochs.csv", "epoch,val_acc\n1,0.5\n2,abc\n", r"0/epochs.csv: line 3: 'abc' is not a number"),
        ("0/.hydra/overrides.yaml", "[optimizer=sgd", r"0/.hydra/overrides.yaml: not YAML \("),
        ("0/.hydra/overrides.yaml", "a: 1", r"0/.hydra/overrides.yaml: not a list of overrides"),
        ("multirun.yaml", "hydra: [: x", r"multirun.yaml: not YAML \("),
        ("0/trial.json", "[]", r"0/trial.json: not a JSON object of metrics"),
    ],
)
def test_a_file_netopt_did_not_write_that_way_is_one_line(tmp_path, capsys, file, content, message):
    fake_run(tmp_path / "0", ["optimizer=sgd"], completed(0.9))
    (tmp_path / file).write_text(content)
    if file.endswith("trial.json"):
        (tmp_path / "0" / "metrics.json").unlink()
    before = snapshot(tmp_path)
    status, err = report(tmp_path, capsys=capsys)
    assert_one_line(status, err, 2, message)
    assert snapshot(tmp_path) == before


def test_a_read_only_sweep_folder_is_one_line(tmp_path, capsys, monkeypatch):
    import builtins
    import io

    fake_run(tmp_path / "0", ["optimizer=sgd"], completed(0.9))
    tmp_path.chmod(0o555)  # root writes anyway: refuse writes into it as the kernel would for a user
    real_open = io.open

    def read_only(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+") and Path(file).parent == tmp_path:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(io, "open", read_only)
    monkeypatch.setattr(builtins, "open", read_only)
    try:
        status, err = report(tmp_path, capsys=capsys)
    finally:
        tmp_path.chmod(0o755)
    assert_one_line(status, err, 2, rf"{tmp_path}/\S+: Permission denied$")


# --- checkpoints that are not: never handed to pickle's code, never read endlessly -----------------


class _Pwned:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.parametrize("zipped", [True, False])
def test_a_crafted_pickle_as_init_path_runs_no_code(cli, tmp_path, monkeypatch, zipped):
    monkeypatch.chdir(tmp_path)
    torch.save({"model": _Pwned()}, tmp_path / "evil.pt", _use_new_zipfile_serialization=zipped)
    status, err = cli("init=pretrained", "init.path=evil.pt")
    assert_one_line(status, err, 2, r"init.path: evil.pt holds objects other than tensors and plain data")
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "path, pattern",
    [("/dev/zero", "init.path: not a regular file: /dev/zero"), (".", "init.path: not a regular file: .")],
)
def test_a_device_or_folder_as_init_path_is_one_line_and_not_read(cli, path, pattern):
    status, err = cli("init=pretrained", f"init.path={path}")
    assert_one_line(status, err, 2, pattern)


# --- issue 25, hostile inputs on runs, run folders, resume and config values ---------------------------

HOSTILE_VALUES = [
    (["name=../../x"], r"name=../../x: a folder name, not a path"),
    (["name=../../../../../x"], r"name=../../../../../x: a folder name, not a path"),
    (["init.bias=nan"], r"init.bias=nan: must be a finite number"),
    (["init=constant", "init.value=nan"], r"init.value=nan: must be a finite number"),
    (["init.gain=inf"], r"init.gain=inf: must be > 0 and at most 3.4e\+38"),
    (["optimizer.lr=1e308"], r"optimizer.lr=1e\+308: must be at most 3.4e\+38"),
    (["optimizer.lr=1e39"], r"optimizer.lr=1e\+39: must be at most 3.4e\+38"),
    ([f"dataset.split_seed={2**70}"], rf"dataset.split_seed={2**70}: must be in \[0, "),
    (["model.width=1000000"], r"model: 1,000,076,000,010 parameters need 4,000.3 GB, more than the"),
]


@pytest.mark.parametrize(
    ("overrides", "pattern"), HOSTILE_VALUES, ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_a_hostile_value_is_one_line_and_leaves_no_folder(cli, tmp_path, overrides, pattern):
    status, err = cli("debug=fast", *overrides)  # the default run folder, under outputs/runs
    assert_one_line(status, err, 2, pattern)
    assert [p for p in tmp_path.rglob("*") if p.name not in ("outputs", "runs")] == []
    assert not (tmp_path.parent / "x").exists() and not Path("/x").exists()


def test_a_refused_config_leaves_no_empty_run_folder(cli, tmp_path):
    status, err = cli("optimizer.lr=-1")
    assert_one_line(status, err, 2, r"optimizer.lr=-1.0: must be finite and >= 0")
    assert not list((tmp_path / "outputs" / "runs").iterdir())


def test_no_validation_set_trains_without_early_stopping(cli, tmp_path):
    status, err = cli("debug=fast", "dataset.val_fraction=0", "early_stopping=none", "hydra.run.dir=run")
    assert status == 0, err
    metrics = read_metrics(tmp_path / "run")
    assert metrics["status"] == "completed" and metrics["val_acc"] is None and metrics["test_acc"] > 0


def test_the_readme_resume_and_fine_tune_recipes_work_on_a_default_folder_name(cli, tmp_path):
    assert cli("debug=fast", "optimizer=adam", "optimizer.lr=0.01")[0] == 0
    (run,) = (tmp_path / "outputs" / "runs").iterdir()
    assert run.name.endswith("_debug-fast+optimizer-adam+lr-0.01"), run.name
    same = "debug=fast optimizer=adam optimizer.lr=0.01"
    resume = f"{same} trainer.resume=true trainer.max_epochs=2 hydra.run.dir=outputs/runs/{run.name}"
    status, err = cli(*resume.split())  # as the shell splits the README's line: no quotes
    assert status == 0, err
    assert read_metrics(run)["epochs"] == 2
    tune = f"debug=fast init=pretrained init.path=outputs/runs/{run.name}/checkpoint.pt hydra.run.dir=tuned"
    status, err = cli(*tune.split())
    assert status == 0, err
    assert read_metrics(tmp_path / "tuned")["status"] == "completed"


def test_resume_with_fewer_epochs_than_done_is_refused(cli, earlier):
    cli("debug=fast", "trainer.resume=true", f"hydra.run.dir={earlier}", "trainer.max_epochs=2")
    before = snapshot(earlier)
    status, err = cli("debug=fast", "trainer.resume=true", f"hydra.run.dir={earlier}", "trainer.max_epochs=1")
    assert_one_line(status, err, 2, r"trainer.max_epochs=1: the run in .* has trained 2 epochs already")
    assert snapshot(earlier) == before


def test_a_resume_refused_for_an_unwritable_folder_rewrites_nothing(cli, earlier, monkeypatch):
    touch = Path.touch

    def read_only(path: Path, *args, **kwargs) -> None:  # as a read-only folder, also for root
        if earlier in path.parents:
            raise PermissionError(13, "Permission denied", str(path))
        touch(path, *args, **kwargs)

    monkeypatch.setattr(Path, "touch", read_only)
    before = snapshot(earlier)
    status, err = cli("debug=fast", "trainer.resume=true", f"hydra.run.dir={earlier}", "trainer.max_epochs=3")
    assert_one_line(status, err, 2, r"hydra.run.dir=.*: cannot write into .* \(Permission denied\)")
    assert snapshot(earlier) == before


def test_ctrl_c_twice_before_the_first_checkpoint_is_one_line_and_the_run_starts_again(tmp_path):
    folder = tmp_path / "run"
    args = [NETOPT_TRAIN, "trainer.max_epochs=1", "trainer.batch_size=1", *FAST, f"hydra.run.dir={folder}"]
    proc = start_until(args, tmp_path, folder / ".hydra")
    time.sleep(0.1)  # into the first epoch
    proc.send_signal(signal.SIGINT)
    time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    err = proc.stderr.read()  # type: ignore[union-attr]
    assert_one_line(proc.wait(timeout=120), err, 130, r"interrupted before the first epoch's checkpoint")
    assert read_metrics(folder)["status"] == "interrupted" and not (folder / "checkpoint.pt").exists()
    fresh = netopt("trainer.max_epochs=1", f"hydra.run.dir={folder}", cwd=tmp_path)
    assert_one_line(
        fresh.returncode, fresh.stderr, 2, r"holds a run already; continue it with trainer.resume"
    )
    again = netopt(
        "trainer.max_epochs=1",
        "trainer.batch_size=1",
        "trainer.resume=true",
        f"hydra.run.dir={folder}",
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stderr
    assert read_metrics(folder)["status"] == "completed" and read_metrics(folder)["epochs"] == 1


def test_a_sweep_onto_a_full_disk_stops_with_one_line_and_no_empty_file(cli, tmp_path, monkeypatch):
    import errno

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("netopt.files.os.fsync", full)  # every file written after the sweep began
    status, err = cli("-m", "optimizer.lr=0.1,0.01", "debug=fast", "hydra.sweep.dir=sweep")
    assert_one_line(status, err, 2, r"sweep/000_lr-0.1/.hydra/config.yaml: cannot write it \(No space left")
    assert "the sweep stopped" in err
    files = [p for p in (tmp_path / "sweep").rglob("*") if p.is_file()]
    assert not [p for p in files if p.name.endswith((".json", ".tmp")) or p.suffix == ".pt"], files


def test_an_update_too_large_for_the_weights_type_ends_diverged(cli, tmp_path):
    """lr 1e38 passes the float32 bound, but Adam's first step, lr / (1 - b1) = 1e39, does not fit: the
    run ends diverged (exit 3, metrics.json says so), not in a traceback."""
    status, err = cli("optimizer=adam", "optimizer.lr=1e38", "debug=fast", "hydra.run.dir=run")
    assert status == 3 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("netopt-train: diverged:")
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["status"] == "diverged"
