"""Asynchronous sweeps: ASHA's promotion rule on synthetic learning curves, a simulated pool of workers
(idle time of ASHA against synchronous Hyperband), and the asynchronous sweep loop end to end on the
tiny task in tests/hpo_app (joblib's pool, a failing trial, kill -9 and resume) and on netopt-train."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from netopt.hpo import ASHA, Hyperband, Job, Record, SearchSpace, Uniform, promotable
from tests.test_hpo_sweepers import APP, SPACE, journal, launches, results, sweep, train_sweep

UNIT = SearchSpace([Uniform("x", 0.0, 1.0)])


def curve(job: Job) -> float:
    """A learning curve that crosses others: trials with a large x start slow and end high."""
    x = job.params["x"]
    return x - 2 * x / (job.budget or 1) ** 0.5


def done(job: Job, value: float) -> Record:
    return replace(Record.pending(job), status="completed", objective=value, epochs=job.budget)


def simulate(
    search, workers: int, value: Callable[[Job], float], seconds: Callable[[Job, int], float]
) -> tuple[list[tuple[list[Record], Job]], list[Record], float]:
    """An event-driven pool of workers asking ``search`` as the sweep loop does: each ask (with
    the records it saw), the records in the order jobs ended, and the fraction of worker time idle.
    A job takes ``seconds(job, epochs it trains)``."""
    records: dict[tuple, Record] = {}
    running: list[tuple[float, Job]] = []
    asks, ended, clock, busy = [], [], 0.0, 0.0
    while True:
        while len(running) < workers:
            keys = {j.key for _, j in running}
            seen = list(records.values())
            job = next((j for j in search.ask(seen) if j.key not in keys), None)
            if job is None:
                break
            asks.append((seen, job))
            trained = max((r.budget or 0 for r in seen if r.trial == job.trial and r.finished), default=0)
            length = seconds(job, job.budget - trained)
            busy += length
            records[job.key] = Record.pending(job)
            running.append((clock + length, job))
        if not running:
            return asks, ended, 1 - busy / (workers * clock)
        running.sort(key=lambda p: p[0])
        clock, job = running.pop(0)
        records[job.key] = done(job, value(job))
        ended.append(records[job.key])


def test_a_trial_is_promoted_once_it_is_in_the_top_third_of_its_rung():
    a, b, c, d = (Job(t, {"x": 0.5}, 1) for t in range(4))
    two = [done(a, 0.3), done(b, 0.9)]
    assert promotable(two, 1, 3, eta=3, maximize=True) == []  # floor(2 / 3) = 0: nobody yet
    three = [*two, done(c, 0.5)]
    assert [r.trial for r in promotable(three, 1, 3, 3, True)] == [1]  # the best of three
    assert [r.trial for r in promotable(three, 1, 3, 3, False)] == [0]  # minimized: the lowest
    running = [*three, Record.pending(Job(1, {"x": 0.5}, 3))]
    assert promotable(running, 1, 3, 3, True) == []  # promoted already (its job is running)
    failed = replace(Record.pending(d), status="failed", error="boom")
    six = [*running, failed, done(Job(4, {}, 1), 0.1), done(Job(5, {}, 1), 0.2)]
    assert [r.trial for r in promotable(six, 1, 3, 3, True)] == [2]  # the failure counts in n = 6
    assert [r.trial for r in promotable([failed, done(a, 0.1), done(b, 0.2)], 1, 3, 3, True)] == [1]
    three_failed = [replace(failed, trial=t) for t in range(3)]
    assert promotable(three_failed, 1, 3, 3, True) == []  # a failure is never promoted


def test_asha_promotes_as_each_trial_reports_on_synthetic_curves():
    search = ASHA(UNIT, max_epochs=9, eta=3, n_trials=12, seed=1)
    assert search.rungs == [1, 3, 9]
    asks, ended, _ = simulate(search, 2, curve, lambda job, epochs: epochs)
    for seen, job in asks:  # every promotion followed the rule on the records of its moment
        k = search.rungs.index(job.budget)
        if k > 0:
            at_rung = sorted(
                (r for r in seen if r.budget == search.rungs[k - 1] and r.finished),
                key=lambda r: -r.objective,
            )
            assert job.trial in [r.trial for r in at_rung[: len(at_rung) // 3]]
    launched = [job.key for _, job in asks]
    assert len(launched) == len(set(launched))  # no job twice
    first = next(i for i, (_, job) in enumerate(asks) if job.budget == 3)
    finished_then = [r for r in asks[first][0] if r.budget == 1 and r.finished]
    assert len(finished_then) == 3 < 12  # the first promotion came when 3 of 12 had reported
    trials = {job.trial for _, job in asks}
    assert trials == set(range(12)) and max(job.budget for _, job in asks) == 9
    assert len(ended) == len(asks)


def test_asha_leaves_no_worker_idle_where_hyperband_waits_for_its_rungs():
    """Two workers, trials of different lengths: synchronous Hyperband's workers wait at every rung
    for its slowest trial, ASHA's only once no trial is left to start (the last jobs)."""

    def seconds(job: Job, epochs: int) -> float:
        return epochs * (1 + 3 * job.params["x"])

    asha = ASHA(UNIT, max_epochs=9, eta=3, n_trials=27, seed=0)
    hyperband = Hyperband(UNIT, max_epochs=9, eta=3, n_brackets=1, seed=0)
    _, asha_ended, asha_idle = simulate(asha, 2, curve, seconds)
    _, _, hyperband_idle = simulate(hyperband, 2, curve, seconds)
    assert asha_idle < 0.05 < hyperband_idle
    assert asha_idle < hyperband_idle / 3


def train_async(sweep_dir: Path, *overrides: str) -> float:
    """An asynchronous sweep of the test app through joblib with 2 workers; the fraction of the
    workers' time no job ran (from the jobs' own wall times)."""
    began = time.time()
    sweep(sweep_dir, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *SPACE, *overrides)
    wall = time.time() - began
    busy = sum(j["wall_time_s"] or 0 for j in journal(sweep_dir) if j["status"] != "pending")
    return 1 - busy / (2 * wall)


def in_flight(sweep_dir: Path) -> list[int]:
    """The jobs running when each outcome was written, from the journal."""
    running, counts = 0, []
    for line in journal(sweep_dir):
        running += 1 if line["status"] == "pending" else -1
        if line["status"] != "pending":
            counts.append(running + 1)
    return counts


def test_an_asha_sweep_keeps_both_workers_busy_and_records_a_failure(tmp_path):
    args = ["hydra/sweeper=asha", "hydra.sweeper.n_trials=6", "hydra.sweeper.max_epochs=2"]
    args += [
        "hydra.sweeper.eta=2",
        "fail_above=8",
        "seconds_per_epoch=0.05",
        "hydra.sweeper.max_failure_rate=1",
    ]
    train_async(tmp_path, *args)
    rows = results(tmp_path)
    assert len(rows) == 6
    for r in rows:
        if float(r["x1"]) > 8:
            assert (
                r["status"] == "failed"
                and r["error"].startswith("RuntimeError: x1=")
                and r["epochs"] in ("", "1")
            )
        else:
            assert r["status"] == "completed" and sum(launches(r["run_dir"])) == int(r["epochs"])
    lines = journal(tmp_path)
    started = [i for i, j in enumerate(lines) if j["status"] == "pending" and j["budget"] == 1]
    assert [lines[i]["trial"] for i in started] == list(range(6))  # new trials in order
    counts = in_flight(tmp_path)
    last_new = sum(1 for j in lines[: started[-1]] if j["status"] != "pending")
    assert counts[:last_new] == [2] * last_new  # two jobs ran whenever an outcome came, until the end
    assert max(int(r["epochs"] or 0) for r in rows) == 2


def test_an_interrupted_asynchronous_sweep_resumes_where_it_stopped(tmp_path, monkeypatch):
    args = ["hydra/sweeper=asha", "hydra.sweeper.n_trials=4", "hydra.sweeper.max_epochs=2", *SPACE]
    args += ["hydra.sweeper.eta=2"]
    monkeypatch.setenv("HPO_APP_STOP_IN", "003")  # Ctrl-C in trial 3's first job (the basic launcher)
    with pytest.raises(KeyboardInterrupt):
        sweep(tmp_path, *args)
    monkeypatch.delenv("HPO_APP_STOP_IN")
    finished, cut_off = split(journal(tmp_path))
    assert cut_off == {(3, 1)} and finished == {(0, 1), (1, 1), (2, 1), (0, 2)}
    lines = len(journal(tmp_path))
    sweep(tmp_path, *args)
    relaunched = [(j["trial"], j["budget"]) for j in journal(tmp_path)[lines:] if j["status"] == "pending"]
    assert relaunched[0] == (3, 1) and not finished & set(relaunched)
    assert [r["status"] for r in results(tmp_path)] == ["completed"] * 4


@pytest.mark.slow
def test_kill_9_mid_sweep_then_the_same_command_redoes_nothing_finished(tmp_path):
    command = [sys.executable, str(APP), "-m", f"hydra.sweep.dir={tmp_path}", "hydra/sweeper=asha"]
    command += ["hydra.sweeper.n_trials=4", "hydra.sweeper.max_epochs=2", "hydra.sweeper.eta=2", *SPACE]
    command += ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seconds_per_epoch=0.5"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(APP.parents[2]), os.environ.get("PYTHONPATH")])),
    }
    process = subprocess.Popen(
        command, env=env, cwd=tmp_path, start_new_session=True, stdout=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (
        len(split(_journal(tmp_path))[0]) >= 2 and split(_journal(tmp_path))[1]
    ):
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)  # the sweeper and its workers, mid-job
    process.wait()
    before = _journal(tmp_path)
    finished, cut_off = split(before)
    assert len(finished) >= 2 and cut_off  # killed with jobs running
    again = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    after = journal(tmp_path)[len(before) :]
    relaunched = [(j["trial"], j["budget"]) for j in after if j["status"] == "pending"]
    assert not finished & set(relaunched) and cut_off <= set(relaunched[: len(cut_off)])
    for r in results(tmp_path):  # every trial trained its epochs once: the finished ones were not redone
        assert r["status"] == "completed" and sum(launches(r["run_dir"])) == int(r["epochs"])


def split(lines: list[dict]) -> tuple[set, set]:
    """The jobs of journal lines that finished, and those that were launched and did not."""
    finished = {(j["trial"], j["budget"]) for j in lines if j["status"] == "completed"}
    return finished, {(j["trial"], j["budget"]) for j in lines} - finished


def _journal(sweep_dir: Path) -> list[dict]:
    """The journal's complete lines so far (none before it exists)."""
    path = sweep_dir / "journal.jsonl"
    if not path.exists():
        return []
    text = path.read_text()
    return journal(sweep_dir) if text.endswith("\n") else []


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["asha", "bohb"])
def test_netopt_train_presets_continue_promoted_trials(tmp_path, preset):
    args = ["hydra.sweeper.max_epochs=3", "dataset=digits", "trainer.limit_batches=2"]
    args += ["hydra.sweeper.n_trials=3"] if preset == "asha" else ["hydra.sweeper.n_brackets=1"]
    done_ = train_sweep(tmp_path, f"hparams_search={preset}", *args)
    assert done_.returncode == 0, done_.stderr
    rows = results(tmp_path)
    assert sorted(int(r["epochs"]) for r in rows) == [1, 1, 3]  # 3 trials, the best promoted
    assert all(r["status"] == "completed" and 0 <= float(r["val_acc"]) <= 1 for r in rows)
    for r in rows:  # a promoted trial trained its 3 epochs once, continuing from its checkpoint
        metrics = json.loads((Path(r["run_dir"]) / "metrics.json").read_text())
        assert metrics["epochs"] == int(r["epochs"]) and metrics["steps"] == 2 * int(r["epochs"])


@pytest.mark.slow
def test_an_asha_sweep_through_submitit_local_polls_each_job(tmp_path):
    args = [
        "hydra/sweeper=asha",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.max_epochs=2",
        "hydra.sweeper.eta=2",
    ]
    args += ["hydra/launcher=submitit_local", "hydra.sweeper.workers=2", "fail_above=9"]
    sweep(tmp_path, *SPACE, *args)
    rows = results(tmp_path)
    assert len(rows) == 4 and all((r["status"] == "failed") == (float(r["x1"]) > 9) for r in rows)
    assert max(in_flight(tmp_path)) == 2


def test_each_launcher_gets_its_pool():
    from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import LocalLauncher

    from hydra_plugins.netopt_sweepers._pool import InlinePool, JoblibPool, ThreadPool, make_pool

    class Basic:
        """Stands for Hydra's basic launcher (any launcher of another module)."""

    inline = make_pool(Basic(), 4)
    assert isinstance(inline, InlinePool) and inline.workers == 1  # it runs jobs in this process
    assert isinstance(make_pool(LocalLauncher(), 3), ThreadPool)
    assert isinstance(make_pool(JoblibLauncher(), 2), JoblibPool)
