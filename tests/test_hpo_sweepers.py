"""The Hydra sweepers and the summary callback, end to end: on the tiny task in tests/hpo_app
through the basic, joblib and submitit_local launchers, and on netopt-train (slow)."""

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra._internal.hydra import Hydra
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import setup_globals
from hydra.types import RunMode
from omegaconf import OmegaConf

from netopt.errors import UserError
from netopt.hpo import Choice, Integer, Uniform

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "tests" / "hpo_app" / "app.py"
SPACE = ["x1=interval(-5,10)", "x2=interval(0,15)"]


def load_task():
    """The undecorated task function of the test app."""
    spec = importlib.util.spec_from_file_location("hpo_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main.__wrapped__


TASK = load_task()


def sweep(sweep_dir: Path, *overrides: str) -> None:
    """A multirun of the test app in this process (basic launcher unless overridden)."""
    setup_globals()
    hydra_ = Hydra.create_main_hydra_file_or_module(
        calling_file=str(APP), calling_module=None, config_path=".", job_name="app"
    )
    try:
        hydra_.multirun(
            "config",
            TASK,
            [f"hydra.sweep.dir={sweep_dir}", "hydra.mode=MULTIRUN", *overrides],
            with_log_configuration=False,
        )
    finally:
        GlobalHydra.instance().clear()


def results(sweep_dir: Path) -> list[dict]:
    """results.csv's rows by trial (the file lists them best configuration first)."""
    return sorted(csv.DictReader((sweep_dir / "results.csv").open()), key=lambda r: int(r["trial"]))


def journal(sweep_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (sweep_dir / "journal.jsonl").read_text().splitlines()]


def launches(run_dir: str | Path) -> list[int]:
    """Epochs trained by each launch of the test task in run_dir."""
    return [int(line) for line in (Path(run_dir) / "launches.txt").read_text().split()]


def rounds(sweep_dir: Path) -> list[int]:
    """The number of jobs of each launched round, from the journal (a round's pending records)."""
    sizes, pending = [], 0
    for record in journal(sweep_dir):
        if record["status"] == "pending":
            pending += 1
        elif pending:
            sizes.append(pending)
            pending = 0
    return sizes


def test_random_sweep_survives_failures_and_resumes_after_an_interruption(tmp_path, capsys, monkeypatch):
    args = ["hydra/sweeper=random", "hydra.sweeper.n_trials=6", "hydra.sweeper.batch_size=2", *SPACE]
    args += ["fail_above=9", "nan_above=4.5", "hydra.sweeper.max_failure_rate=1.0"]
    monkeypatch.setenv("HPO_APP_STOP_IN", "003")  # Ctrl-C inside trial 3, after trial 2 finished
    with pytest.raises(KeyboardInterrupt):
        sweep(tmp_path, *args)
    monkeypatch.delenv("HPO_APP_STOP_IN")
    assert len(results(tmp_path)) == 2  # the first round was summarized before the interruption
    assert [j["status"] for j in journal(tmp_path)][-2:] == ["pending", "pending"]

    sweep(tmp_path, *args)
    rows = results(tmp_path)
    assert [r["trial"] for r in rows] == ["0", "1", "2", "3", "4", "5"]
    for r in rows:
        x1 = float(r["x1"])
        expected = "failed" if x1 > 9 else "diverged" if x1 > 4.5 else "completed"
        assert r["status"] == expected
        if expected != "failed":  # trial 2 is relaunched with trainer.resume=auto: nothing left to train
            assert launches(r["run_dir"]) == ([3, 0] if r["trial"] == "2" else [3])
    assert [r["status"] for r in rows] == [
        "failed",
        "completed",
        "diverged",
        "completed",
        "completed",
        "completed",
    ]
    assert rows[0]["error"] == f"RuntimeError: x1={rows[0]['x1']} is too large"
    with pytest.raises(UserError, match=r"its trials ran with other fixed settings \(fail_above: 9 -> 8\)"):
        sweep(tmp_path, *[a.replace("fail_above=9", "fail_above=8") for a in args])
    best = yaml.safe_load((tmp_path / "best.yaml").read_text())
    assert best["objective"] == max(float(r["val_acc"]) for r in rows if r["status"] == "completed")
    assert best["overrides"] == [f"x1={best['params']['x1']}", f"x2={best['params']['x2']}"]
    ranked = list(csv.DictReader((tmp_path / "results.csv").open()))  # best first, failures last
    assert [float(r["val_acc"]) for r in ranked[:4]] == sorted(
        (float(r["val_acc"]) for r in ranked[:4]), reverse=True
    )
    assert ranked[0]["trial"] == str(best["trials"][0]) and {r["rank"] for r in ranked[4:]} == {"-"}
    shown = capsys.readouterr().out
    assert "6 trials: 4 completed, 1 diverged, 1 failed" in shown and "trial 0 failed: RuntimeError" in shown


def test_hyperband_trials_continue_from_their_checkpoints(tmp_path):
    args = ["hydra/sweeper=hyperband", "hydra.sweeper.max_epochs=4", "hydra.sweeper.eta=2", *SPACE]
    sweep(tmp_path, *args, "hydra.sweeper.n_brackets=1", "hydra.sweeper.batch_size=3")
    assert rounds(tmp_path) == [3, 1, 2, 1]  # the first rung's 4 jobs in rounds of at most 3
    rows = results(tmp_path)
    assert sorted(int(r["epochs"]) for r in rows) == [1, 1, 2, 4]
    for r in rows:
        assert sum(launches(r["run_dir"])) == int(r["epochs"])  # promoted trials train 4 epochs in all
    first_rung = [j for j in journal(tmp_path) if j["budget"] == 1 and j["status"] == "completed"]
    promoted = {r["trial"] for r in rows if int(r["epochs"]) > 1}
    best_two = sorted(first_rung, key=lambda j: -j["objective"])[:2]
    assert promoted == {str(j["trial"]) for j in best_two}


def test_bayes_sweep_through_joblib_splits_threads(tmp_path):
    args = ["hydra/sweeper=bayes", "hydra.sweeper.n_trials=4", "hydra.sweeper.n_initial=2", *SPACE]
    args += ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "kind=a,b"]
    sweep(tmp_path, *args)
    assert rounds(tmp_path) == [2, 2]  # no batch_size: as many as n_jobs runs at once
    rows = results(tmp_path)
    assert [r["status"] for r in rows] == ["completed"] * 4 and {r["kind"] for r in rows} <= {"a", "b"}
    # loky caps each worker's threads at cores // n_jobs, so parallel trials do not oversubscribe
    threads = [j["metrics"]["omp_threads"] for j in journal(tmp_path) if j["status"] == "completed"]
    assert all(t and int(t) <= max(1, (os.cpu_count() or 1) // 2) for t in threads)


@pytest.mark.slow
def test_hyperband_through_submitit_local(tmp_path):
    args = ["hydra/sweeper=hyperband", "hydra.sweeper.max_epochs=4", "hydra.sweeper.eta=2", *SPACE]
    sweep(tmp_path, *args, "hydra.sweeper.n_brackets=1", "hydra/launcher=submitit_local", "fail_above=9")
    rows = results(tmp_path)
    assert len(rows) == 4 and max(int(r["epochs"] or 0) for r in rows) == 4
    assert all((r["status"] == "failed") == (float(r["x1"]) > 9) for r in rows)


def test_too_many_failures_stop_the_sweep(tmp_path):
    args = ["hydra/sweeper=random", "hydra.sweeper.n_trials=6", "hydra.sweeper.batch_size=2", *SPACE]
    with pytest.raises(UserError, match="hydra.sweeper.max_failure_rate=0.5: 2 of 2 jobs failed or diverged"):
        sweep(tmp_path, *args, "fail_above=-100")
    assert [r["status"] for r in results(tmp_path)] == ["failed", "failed"]


def test_summary_callback_ends_a_grid_sweep(tmp_path, capsys):
    callback = "+hydra.callbacks.summary._target_=hydra_plugins.netopt_sweepers.callback.SummaryCallback"
    sweep(tmp_path, "x1=1,3,9.5", "kind=a,b", "fail_above=9", callback)  # x1=9.5 raises: the grid goes on
    rows = results(tmp_path)
    assert [(r["x1"], r["kind"]) for r in rows] == [(x, k) for x in ("1", "3", "9.5") for k in "ab"]
    assert [r["status"] for r in rows] == ["completed"] * 4 + ["failed"] * 2
    assert rows[-1]["error"] == "RuntimeError: x1=9.5 is too large"
    assert "Traceback" in (Path(rows[-1]["run_dir"]) / "app.log").read_text()
    rows = rows[:4]
    assert all(float(r["wall_time_s"]) > 0 for r in rows)
    best = yaml.safe_load((tmp_path / "best.yaml").read_text())
    top = max(rows, key=lambda r: float(r["val_acc"]))
    assert (
        best["params"] == {"x1": int(top["x1"]), "kind": top["kind"], "fail_above": 9} and top["kind"] == "b"
    )
    assert best["overrides"] == [f"x1={top['x1']}", "kind=b", "fail_above=9"]  # as typed, not quoted
    shown = capsys.readouterr()
    assert "6 trials: 4 completed, 0 diverged, 2 failed" in shown.out
    assert "Traceback" not in shown.out + shown.err  # a failing job is one line there, its log has the rest
    assert "job 4 failed: RuntimeError: x1=9.5 is too large" in shown.out + shown.err


def parse(*lines: str):
    from hydra_plugins.netopt_sweepers._core import parse_space

    return parse_space(OverridesParser.create().parse_overrides(list(lines)))


def test_search_space_from_the_override_grammar():
    space, fixed = parse(
        "optimizer.lr=tag(log, interval(1e-4, 1.0))",
        "optimizer.momentum=interval(0, 0.9)",
        "model.depth=range(1, 7, 2)",
        "model.width=tag(log, range(16, 257))",
        "norm=choice(none, batch)",
        "model.activation=relu,tanh",
        "trainer.max_epochs=3",
        "+extra=1",
        "optimizer.momentum=0.5",  # a later override replaces a sweep
    )
    assert space.dimensions == [
        Uniform("optimizer.lr", 1e-4, 1.0, log=True),
        Integer("model.depth", 1, 5, 2),
        Integer("model.width", 16, 256, log=True),
        Choice("norm", ("none", "batch")),
        Choice("model.activation", ("relu", "tanh")),
    ]
    assert fixed == ["trainer.max_epochs=3", "+extra=1", "optimizer.momentum=0.5"]


def test_a_job_shape_names_its_keys_and_choices_not_its_numbers():
    from hydra_plugins.netopt_sweepers._core import shape

    job = ["optimizer.lr=0.01", "model.depth=3", "norm=batch", "hydra.sweep.subdir=000_lr-0.01"]
    assert shape(job) == shape(["optimizer.lr=3e-4", "model.depth=5", "norm=batch", "hydra.sweep.subdir=7"])
    assert shape(job) != shape(["optimizer.lr=0.01", "model.depth=3", "norm=layer", "hydra.sweep.subdir=0"])
    assert shape(job) != shape(["optimizer.lr=0.01", "model.depth=3.5", "norm=batch", "hydra.sweep.subdir=0"])
    assert shape(job) != shape(["optimizer.lr=0.01", "model.depth=3", "+norm=batch", "hydra.sweep.subdir=0"])


def test_an_asynchronous_sweep_composes_each_shape_of_job_once(tmp_path, monkeypatch):
    """Hydra's check that a job composes costs a composition; the numbers a search varies compose
    alike, so a sweep checks each new shape (each kind, first runs and promotions) once, not every job."""
    from hydra.plugins.sweeper import Sweeper

    checked: list[list[str]] = []
    validate = Sweeper.validate_batch_is_legal
    monkeypatch.setattr(
        Sweeper, "validate_batch_is_legal", lambda self, batch: (checked.extend(batch), validate(self, batch))
    )
    from hydra_plugins.netopt_sweepers._core import shape

    sweep(tmp_path, "hydra/sweeper=asha", "hydra.sweeper.n_trials=6", *SPACE, "kind=a,b")
    launched = [r for r in journal(tmp_path) if r["status"] == "pending"]
    shapes = [shape(overrides) for overrides in checked]
    assert len(shapes) == len(set(shapes)) < len(launched)
    assert {o for overrides in checked for o in overrides if o.startswith("kind=")} == {"kind=a", "kind=b"}


def test_sweeper_settings_a_user_can_get_wrong():
    from hydra_plugins.netopt_sweepers.sweepers import RandomSweeper

    common = dict(params=None, metric="val_acc", seed=0, resume_override=None, n_trials=2, batch_size=1)
    with pytest.raises(
        UserError, match="hydra.sweeper.direction=sideways: must be one of maximize, minimize"
    ):
        RandomSweeper(direction="sideways", max_failure_rate=0.5, **common)
    with pytest.raises(UserError, match=r"hydra.sweeper.max_failure_rate=2: must be in \[0, 1\]"):
        RandomSweeper(direction="maximize", max_failure_rate=2, **common)
    with pytest.raises(UserError, match="hydra.sweeper.metric=test/acc: tune on a validation metric, never"):
        RandomSweeper(direction="maximize", max_failure_rate=0.5, **{**common, "metric": "test/acc"})
    with pytest.raises(UserError, match="not a sweep this sweeper knows"):
        parse("x=glob(*)")


def test_missing_metric_names_the_key(tmp_path):
    args = ["hydra/sweeper=random", "hydra.sweeper.n_trials=1", "hydra.sweeper.metric=val/loss", *SPACE]
    with pytest.raises(UserError, match="hydra.sweeper.metric=val/loss: the task's result has no val_loss"):
        sweep(tmp_path, *args)


@pytest.mark.parametrize(
    ("preset", "sweeper", "size"),
    [
        ("lr_random", "RandomSweeper", 2),
        ("lr_bayes", "BayesSweeper", 2),
        ("hyperband", "HyperbandSweeper", 3),
        ("asha", "AshaSweeper", 3),
        ("bohb", "BohbSweeper", 3),
        ("pbt", "PbtSweeper", 2),
        ("nas", "BayesSweeper", 5),
    ],
)
def test_presets_compose_into_a_search_space(preset, sweeper, size):
    from tests.helpers import compose_config

    cfg = compose_config(f"hparams_search={preset}", hydra=True)
    assert cfg.hydra.sweeper._target_ == f"hydra_plugins.netopt_sweepers.sweepers.{sweeper}"
    assert cfg.hydra.mode == RunMode.MULTIRUN and cfg.hydra.sweeper.metric == "val_acc"
    params = cfg.hydra.sweeper.params
    assert all(OmegaConf.select(cfg, key) is not None for key in params)  # every dimension is a real key
    space, fixed = parse(*(f"{k}={v}" for k, v in params.items()))
    assert len(space) == size and fixed == []


def train_sweep(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    """netopt-train in a process of its own, with this checkout's plugins importable."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "netopt.cli.train", f"hydra.sweep.dir={tmp_path}", *overrides]
    return subprocess.run(
        cmd, env={**os.environ, "PYTHONPATH": path}, capture_output=True, text=True, cwd=tmp_path
    )


@pytest.mark.slow
def test_netopt_train_bayes_search_records_a_failing_trial(tmp_path):
    done = train_sweep(
        tmp_path,
        "hparams_search=lr_bayes",
        "debug=fast",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.n_initial=2",
        "hydra.sweeper.batch_size=2",
        "model.width=choice(-1, 32)",
    )
    assert done.returncode == 0, done.stderr
    rows = results(tmp_path)
    assert len(rows) == 4 and "4 trials:" in done.stdout
    assert any(r["model.width"] == "-1" for r in rows[:2])  # the Sobol design covers both halves
    for r in rows:
        if r["model.width"] == "-1":
            assert r["status"] == "failed" and "model.width" in r["error"]
        else:
            assert r["status"] == "completed" and 0 <= float(r["val_acc"]) <= 1
            assert list(Path(r["run_dir"]).glob("events.out.tfevents.*"))  # the HParams tab entry


@pytest.mark.slow
def test_netopt_train_hyperband_resumes_promoted_trials(tmp_path):
    args = ["hydra.sweeper.max_epochs=4", "hydra.sweeper.eta=2", "hydra.sweeper.n_brackets=1"]
    done = train_sweep(tmp_path, "hparams_search=hyperband", "trainer.limit_batches=2", *args)
    assert done.returncode == 0, done.stderr
    rows = results(tmp_path)
    assert sorted(int(r["epochs"]) for r in rows) == [1, 1, 2, 4]
    top = max(rows, key=lambda r: int(r["epochs"]))
    metrics = json.loads((Path(top["run_dir"]) / "metrics.json").read_text())
    assert metrics["epochs"] == 4 and metrics["steps"] == 4 * 2  # 4 epochs in all, not 1 + 2 + 4


@pytest.mark.parametrize(
    ("sweeper", "launcher", "size"),
    [
        ("RandomSweeper", {}, 8),  # the basic launcher does not say: the sweeper's default
        ("BayesSweeper", {"tasks_per_node": 2}, 4),  # nor does submitit_local
        ("BayesSweeper", {"n_jobs": 3}, 3),  # joblib
        ("RandomSweeper", {"array_parallelism": 16}, 16),  # SLURM
        ("HyperbandSweeper", {}, None),  # every job of the current rungs
    ],
)
def test_an_unset_batch_size_follows_the_launcher(sweeper, launcher, size):
    from hydra_plugins.netopt_sweepers import sweepers

    settings = dict(params=None, metric="val_acc", direction="maximize", seed=0, max_failure_rate=0.5)
    settings |= dict(resume_override=None, batch_size=None)
    if sweeper == "HyperbandSweeper":
        settings |= dict(budget_key="trainer.max_epochs", horizon_key=None)
    instance = getattr(sweepers, sweeper)(**settings)
    instance.loop.setup = lambda **_: None  # no launcher to build
    instance.setup(
        hydra_context=None, task_function=None, config=OmegaConf.create({"hydra": {"launcher": launcher}})
    )
    assert instance.search["batch_size"] == size


def test_launcher_parallelism():
    from hydra_plugins.netopt_sweepers.sweepers import parallelism

    assert parallelism({"array_parallelism": 16, "n_jobs": None}) == 16
    assert parallelism({"n_jobs": 4}) == 4
    assert parallelism({"n_jobs": -1}) == os.cpu_count()
    assert parallelism({"tasks_per_node": 2}) is None  # submitit_local, basic: they do not say


def test_slurm_launcher_preset_composes():
    from hydra.utils import instantiate
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher

    from hydra_plugins.netopt_sweepers.sweepers import parallelism
    from tests.helpers import compose_config

    cfg = compose_config(
        "hydra/launcher=slurm", "hparams_search=lr_bayes", "trainer.strategy=ddp", hydra=True
    )
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    for key in ["partition", "gpus_per_node", "tasks_per_node", "cpus_per_task", "mem_gb", "nodes"]:
        assert key in launcher
    assert (launcher.timeout_min, launcher.array_parallelism, launcher.max_num_timeout) == (240, 8, 3)
    assert cfg.hydra.sweeper.batch_size is None and parallelism(launcher) == 8  # 8 proposals a round
    assert isinstance(instantiate(launcher), SlurmLauncher)  # builds without a cluster
    override = compose_config("hydra/launcher=slurm", "hydra.launcher.tasks_per_node=4", hydra=True)
    assert override.hydra.launcher.tasks_per_node == 4


@pytest.mark.slow
def test_a_sweep_stopped_under_submitit_local_resumes(tmp_path, monkeypatch):
    """A job of the second round dies (as a preempted one does), which stops the sweep; the same
    command again relaunches that round, the finished job continuing from its state."""
    args = ["hydra/sweeper=random", "hydra.sweeper.n_trials=4", "hydra.sweeper.batch_size=2", *SPACE]
    args.append("hydra/launcher=submitit_local")
    monkeypatch.setenv("HPO_APP_STOP_IN", "002")
    from submitit.core.utils import UncompletedJobError

    with pytest.raises(UncompletedJobError):  # the job left no result: the launch fails
        sweep(tmp_path, *args)
    monkeypatch.delenv("HPO_APP_STOP_IN")
    assert [j["status"] for j in journal(tmp_path)] == ["pending"] * 2 + ["completed"] * 2 + ["pending"] * 2
    sweep(tmp_path, *args)
    rows = results(tmp_path)
    assert [r["status"] for r in rows] == ["completed"] * 4
    assert [launches(r["run_dir"]) for r in rows] == [[3], [3], [3], [3, 0]]


# ---------------------------------------------------------------------------- hostile sweep folders

RANDOM_ONE = ["hydra/sweeper=random", "hydra.sweeper.n_trials=2", "hydra.sweeper.batch_size=1", *SPACE]


@pytest.mark.parametrize(
    "line",
    [
        "[1, 2]",
        '{"trial": 0}',
        '{"trial": "x", "params": {}}',
        '{"trial": 0, "params": [], "colour": 1}',
        "7",
    ],
)
def test_a_corrupted_journal_line_is_one_error_naming_it(tmp_path, line):
    sweep(tmp_path, *RANDOM_ONE)
    text = (tmp_path / "journal.jsonl").read_text()
    (tmp_path / "journal.jsonl").write_text(text + line + "\n")
    with pytest.raises(UserError, match=r"journal.jsonl: line 5 is not a record of a trial"):
        sweep(tmp_path, *RANDOM_ONE)
    assert (tmp_path / "journal.jsonl").read_text() == text + line + "\n"  # nothing lost


def test_a_journal_line_cut_short_is_skipped(tmp_path):
    sweep(tmp_path, *RANDOM_ONE)
    with (tmp_path / "journal.jsonl").open("a") as f:
        f.write('{"trial": 2, "par')
    sweep(tmp_path, *RANDOM_ONE)  # nothing new to run: both trials finished
    assert [r["status"] for r in results(tmp_path)] == ["completed", "completed"]


@pytest.mark.parametrize(
    "content, reason",
    [("hydra: [: x", r"\(.+\)"), ("- a list", r"\(.+\)"), ("hydra: {overrides: {task: 3}}", r"\(no list")],
)
def test_a_corrupted_multirun_yaml_is_one_error(tmp_path, content, reason):
    sweep(tmp_path, *RANDOM_ONE)
    (tmp_path / "multirun.yaml").write_text(content)
    with pytest.raises(
        UserError, match=rf"multirun.yaml: not a sweep's multirun.yaml {reason}.*; choose another"
    ):
        sweep(tmp_path, *RANDOM_ONE)
    assert (tmp_path / "multirun.yaml").read_text() == content


def test_a_preset_search_run_again_into_its_folder_continues(tmp_path):
    """The space of hparams_search=... lives in hydra.sweeper.params: the earlier sweep's command line
    holds no dimension, and must not be read as a search space of its own."""
    from hydra_plugins.netopt_sweepers._core import split_overrides

    parser = OverridesParser.create()
    assert split_overrides(parser.parse_overrides(["hparams_search=lr_random", "debug=fast"])) == (
        [],
        ["hparams_search=lr_random", "debug=fast"],
    )
    first = train_sweep(tmp_path, "hparams_search=lr_random", "debug=fast", "hydra.sweeper.n_trials=1")
    assert first.returncode == 0, first.stderr
    again = train_sweep(tmp_path, "hparams_search=lr_random", "debug=fast", "hydra.sweeper.n_trials=2")
    assert again.returncode == 0, again.stderr
    assert [(r["trial"], r["status"]) for r in results(tmp_path)] == [("0", "completed"), ("1", "completed")]


def test_a_grid_sweep_run_again_keeps_its_job_numbers_and_records(cli, tmp_path):
    from tests.test_bad_input import assert_one_line

    grid = ["-m", "optimizer.lr=0.1,0.01", "debug=fast", "hydra.sweep.dir=g"]
    assert cli(*grid)[0] == 0
    before = (tmp_path / "g" / "results.csv").read_text()
    # another length: the finished jobs are not relabelled as the new one
    status, err = cli(*grid, "trainer.max_epochs=2")
    assert_one_line(
        status,
        err,
        2,
        r"its job 0 \(000_lr-0.1\) ran with other settings \(trainer.max_epochs: \(unset\) -> 2\)",
    )
    # one new value would be job 0 again: refused, not run into 000/ and left out
    status, err = cli("-m", "optimizer.lr=0.001", "debug=fast", "hydra.sweep.dir=g")
    assert_one_line(
        status, err, 2, r"its job 0 \(000_lr-0.1\) ran with other settings \(optimizer.lr: 0.1 -> 0.001\)"
    )
    assert (tmp_path / "g" / "results.csv").read_text() == before
    assert sorted(p.name for p in (tmp_path / "g").iterdir() if p.is_dir()) == ["000_lr-0.1", "001_lr-0.01"]
    # checkpoints deleted to save space, a value added at the end: the finished jobs stay completed
    for checkpoint in (tmp_path / "g").glob("*/checkpoint.pt"):
        checkpoint.unlink()
    status, err = cli("-m", "optimizer.lr=0.1,0.01,0.5", "debug=fast", "hydra.sweep.dir=g")
    assert status == 0, err
    rows = sorted(results(tmp_path / "g"), key=lambda r: int(r["trial"]))
    assert [(r["trial"], r["optimizer.lr"], r["status"]) for r in rows] == [
        ("0", "0.1", "completed"),
        ("1", "0.01", "completed"),
        ("2", "0.5", "completed"),
    ]
