"""netopt-bench: the workloads and submissions of the config tree, the Halton trials, the quick benchmark
end to end with its resume, and its one-line mistakes."""

import json
from importlib import resources

import pytest

from netopt import config
from netopt.bench import suite
from netopt.cli import bench
from netopt.composition import compose


def test_halton_points_are_radical_inverses_in_prime_bases():
    points = suite.halton(4, 3).tolist()
    assert points[0] == pytest.approx([1 / 2, 1 / 3, 1 / 5])
    assert points[1] == pytest.approx([1 / 4, 2 / 3, 2 / 5])
    assert points[3] == pytest.approx([1 / 8, 4 / 9, 4 / 5])  # 4 = 100 in base 2, 11 in base 3


def test_every_optimizer_preset_is_a_submission_with_a_search_space_that_composes():
    names = suite.submissions(None)
    assert names == sorted(config.OPTIONS["optimizer"])
    spaces = resources.files(config.CONF_PACKAGE).joinpath("bench", "space")
    assert sorted(f.name.removesuffix(".yaml") for f in spaces.iterdir()) == names
    for trial in suite.trials(["digits_mlp"], names, "external", 1, [0]):
        compose(*trial.overrides())  # every key of the space is a field of the preset


def test_self_tuning_runs_each_preset_once_at_its_defaults():
    trials = suite.trials(["digits_mlp"], ["adam", "sgd"], "self", 5, [0, 1])
    assert [(t.submission, t.seed, t.index, t.params) for t in trials] == [
        ("adam", 0, 0, {}),
        ("adam", 1, 0, {}),
        ("sgd", 0, 0, {}),
        ("sgd", 1, 0, {}),
    ]


def test_workloads_compose_with_their_budget():
    names = [
        f.name.removesuffix(".yaml")
        for f in resources.files("netopt.conf").joinpath("bench", "workload").iterdir()
    ]
    assert len(names) >= 4
    for name in names:
        w = suite.workload(name)
        cfg = compose(*w.overrides(0.5), "optimizer=adam")
        budget = round(w.budget * 0.5)
        assert (
            cfg.trainer.limit_batches * cfg.trainer.max_epochs
            >= budget
            > cfg.trainer.limit_batches * (cfg.trainer.max_epochs - 1)
        )


def test_quick_benchmark_reports_and_resumes_without_redoing_trials(tmp_path, capsys):
    out = tmp_path / "bench"
    common = ["size=quick", "submissions=[sgd,adam]", "budget_scale=0.25", f"out={out}"]
    bench.main([*common, "trials=1"])
    first = out / "digits_mlp/adam/seed0_trial1/metrics.json"
    stamp = first.stat().st_mtime_ns
    interrupted = out / "digits_mlp/sgd/seed1_trial1/metrics.json"
    interrupted.write_text(json.dumps({**json.loads(interrupted.read_text()), "status": "interrupted"}))
    capsys.readouterr()
    # one more Halton trial per search, two at a time: only those and the interrupted trial run
    bench.main([*common, "trials=2", "jobs=2"])
    printed = capsys.readouterr().out
    assert "3 of 8 trials finished before; running 5" in printed
    assert first.stat().st_mtime_ns == stamp
    assert json.loads(interrupted.read_text())["status"] == "completed"
    for name in ("report.html", "report.md", "trials.csv", "profiles.png", "times.png", "budget.png"):
        assert (out / name).is_file()
    report = (out / "report.md").read_text()
    assert "score B [95% CI]" in report and "| adam |" in report
    assert len((out / "trials.csv").read_text().splitlines()) == 1 + 2 * 2 * 2
    from tests.test_docs_figures import script

    script("scripts/benchmark_doc.py").main([f"quick={out}", "--out", str(tmp_path / "docs")])
    assert (tmp_path / "docs" / "quick" / "profiles.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["workloads=[nope]"], "workloads: no such workload nope"),
        (["submissions=[nope]"], "submissions: no such optimizer nope"),
        (["ruleset=both"], "ruleset=both"),
        (["measure=epochs"], "measure=epochs"),
    ],
)
def test_mistakes_are_one_line(tmp_path, capsys, overrides, message):
    with pytest.raises(SystemExit) as exit_:
        bench.main([*overrides, f"out={tmp_path / 'b'}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()


def test_an_output_folder_of_other_settings_is_refused(tmp_path, capsys):
    out = tmp_path / "b"
    out.mkdir()
    (out / "bench.yaml").write_text("ruleset: self\nbudget_scale: 1.0\noverrides: []\n")
    with pytest.raises(SystemExit):
        bench.main(["size=quick", f"out={out}"])
    assert "holds a benchmark with ruleset=self" in capsys.readouterr().err


def test_help_lists_the_options(capsys):
    bench.main(["--help", "trials=3"])
    printed = capsys.readouterr().out
    assert "netopt-bench size=quick" in printed and "trials: 3" in printed


def test_self_tuning_benchmark_of_one_seed(tmp_path):
    out = tmp_path / "self"
    bench.main(
        ["size=quick", "ruleset=self", "submissions=[adam]", "seeds=[0]", "budget_scale=0.25", f"out={out}"]
    )
    assert (out / "digits_mlp/adam/seed0_trial0/metrics.json").is_file()
    assert "| adam |" in (out / "report.md").read_text()


@pytest.mark.parametrize(
    ("launcher", "jobs"), [("basic", 1), pytest.param("joblib", 2, marks=pytest.mark.slow)]
)
def test_trials_run_through_a_hydra_launcher_and_resume(tmp_path, capsys, launcher, jobs):
    out = tmp_path / "launched"
    common = ["size=quick", "submissions=[adam]", "budget_scale=0.25", "trials=1", f"out={out}"]
    bench.main([*common, "seeds=[0]", f"launcher={launcher}", f"jobs={jobs}"])
    first = out / "digits_mlp/adam/seed0_trial1/metrics.json"
    assert json.loads(first.read_text())["status"] == "completed"
    assert (out / "jobs.yaml").is_file() and (out / "report.md").is_file()
    stamp = first.stat().st_mtime_ns
    capsys.readouterr()
    bench.main([*common, "seeds=[0,1]", f"launcher={launcher}", f"jobs={jobs}"])
    assert "1 of 2 trials finished before; running 1" in capsys.readouterr().out
    assert first.stat().st_mtime_ns == stamp
    assert (
        json.loads((out / "digits_mlp/adam/seed1_trial1/metrics.json").read_text())["status"] == "completed"
    )
