"""experiment=optimizers_toy of netopt-trajectories: every optimizer on the 2-D functions without and
with gradient noise, 3 seeds, and the chapter's saddle-point and ill-conditioning claims checked on
the paths. The noise is the ``grad_noise`` group's, its eta set to each level of ``noise``."""

import json

import pytest
import torch
from hydra import compose, initialize

from netopt import config
from netopt.cli.trajectories import main as trajectories_main
from netopt.errors import UserError
from netopt.report.claims import VERDICTS, Claim
from netopt.report.records import read_records
from netopt.studies.trajectories import compose_trajectories, trajectories


def verdicts(out) -> dict[str, dict]:
    return {v["statement"]: v for v in json.loads((out / "claims.json").read_text())}


def test_the_preset_belongs_to_netopt_trajectories_only():
    config.register("trajectories")
    with initialize(version_base="1.3", config_path=None):
        cfg = compose("trajectories", overrides=["experiment=optimizers_toy"])
    assert list(cfg.noise) == [0.0, 0.1] and list(cfg.seeds) == [0, 1, 2, 3, 4]
    assert list(cfg.start.saddle) == [-1.5, 0.0]  # exactly on the ridge
    assert len(cfg.claims) == 9
    for i, raw in enumerate(cfg.claims):
        Claim.parse(raw, f"claims[{i}]")
    assert "optimizers_toy" not in config.OPTIONS["experiment"]  # not one of netopt-train's presets


def test_claims_are_checked_on_the_paths_without_noise(tmp_path):
    out = trajectories(
        [
            f"out={tmp_path}",
            "experiment=optimizers_toy",
            "noise=null",
            "seeds=[0,1]",
            "functions=[saddle,monkey_saddle]",
            "optimizers=[sgd,adam,rmsprop]",
        ]
    )
    found = verdicts(out)
    ridge = [v for s, v in found.items() if s.startswith(("Started exactly", "Without noise"))]
    assert len(ridge) == 2 and all(v["verdict"] == "by construction" for v in ridge)  # deterministic
    assert (ridge[1]["left"]["n"], ridge[1]["left"]["runs"]) == (2, 3 * 2)  # 2 seeds of every optimizer
    flat = [v for s, v in found.items() if "monkey saddle" in s]
    assert len(flat) == 2 and all(v["verdict"] == "by construction" for v in flat)
    noisy = [v for s, v in found.items() if s.startswith("With gradient noise")]
    assert noisy and all(v["verdict"] == "undecided" for v in noisy)  # no path ran with noise 0.1
    report = (out / "report.md").read_text()
    assert "## Claims" in report and "| saddle | sgd | 0.05 | 0 | 2 |" in report


def test_the_old_spelling_of_the_noise_names_the_new_one(tmp_path, monkeypatch, capsys):
    arguments = [f"out={tmp_path / 'out'}", "optimizer.grad_noise=0.1"]
    monkeypatch.setattr("sys.argv", ["netopt-trajectories", *arguments])
    with pytest.raises(SystemExit) as stop:
        trajectories_main()
    assert stop.value.code == 2 and not (tmp_path / "out").exists()
    assert capsys.readouterr().err.splitlines() == [
        "netopt-trajectories: error: optimizer.grad_noise: gradient noise is a group of its own: "
        "grad_noise=gaussian grad_noise.eta=<eta>"
    ]


def test_noise_as_set_is_the_row_of_its_level(tmp_path):
    """``noise=null`` runs the ``grad_noise`` group as set on the command line."""
    out = trajectories(
        [
            f"out={tmp_path}",
            "grad_noise.eta=0.1",
            "functions=[saddle]",
            "optimizers=[sgd]",
            "start.saddle=[-1.5,0.0]",
        ]
    )
    assert {record.value("noise") for record in read_records(out / "records.jsonl")} == {0.1}


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ("claims=[{statement: nothing}]", r"claims\[0\]: missing keys"),
        ("noise=0.1", r"noise=0.1: must be a list or null, e.g. noise=\[0.0,0.1\]"),
        ("seeds=3", r"seeds=3: must be a list, e.g. seeds=\[0,1,2\]"),
    ],
)
def test_a_mistake_stops_before_any_path_runs(tmp_path, override, error):
    with pytest.raises(UserError, match=error):
        trajectories([f"out={tmp_path / 'out'}", override])
    assert not (tmp_path / "out").exists()


def test_gradient_noise_lets_every_seed_escape_the_ridge(tmp_path):
    out = trajectories(
        [f"out={tmp_path}", "experiment=optimizers_toy", "functions=[saddle]", "optimizers=[sgd,adam]"]
    )
    summary = read_records(out / "records.jsonl")
    assert sorted({(o.value("noise"), o.seed) for o in summary}) == [
        (n, s) for n in (0.0, 0.1) for s in (0, 1, 2, 3, 4)
    ]
    saddle = [v for v in verdicts(out).values() if v["left"]["select"]["function"] == "saddle"]
    noisy = [v["verdict"] for v in saddle if v["left"]["select"]["noise"] == 0.1]
    exact = [v["verdict"] for v in saddle if v["left"]["select"]["noise"] == 0.0]
    # every seed escapes with noise; Adam's lead over SGD is gone once each takes its own best lr (both
    # the largest of their grid: they escape within a few steps), so that claim is inconclusive
    assert noisy == ["holds", "inconclusive"] and exact == ["by construction", "by construction"], saddle


@pytest.mark.slow
def test_optimizers_toy_preset_writes_its_report(tmp_path):
    out = trajectories([f"out={tmp_path}", "experiment=optimizers_toy"])
    for name in ("saddle.png", "quadratic.png", "report.md", "report.html", "records.jsonl"):
        assert (out / name).stat().st_size > 0
    assert len(read_records(out / "records.jsonl")) == 7 * 5 * 2 * 5
    found = verdicts(out)
    assert len(found) == 9 and all(v["verdict"] in VERDICTS for v in found.values())


#: The presets netopt-trajectories refuses, with the start of the one line that says why.
REFUSED = {"muon": "optimizer=muon: Muon orthogonalizes weight matrices only"}


def test_every_optimizer_preset_draws_or_is_refused_with_one_line(tmp_path, monkeypatch, capsys):
    """Each preset of conf/optimizer runs a few steps on every function at its learning rate of
    ``lrs`` (a finite path), or is refused with one clear line before any folder is written."""
    drawn = [name for name in config.OPTIONS["optimizer"] if name not in REFUSED]
    chosen = [f"optimizers=[{','.join(drawn)}]", "functions=[sphere,saddle]", "steps={sphere: 3, saddle: 3}"]
    out = trajectories([f"out={tmp_path / 'drawn'}", *chosen])
    records = read_records(out / "records.jsonl")
    assert sorted({r.value("optimizer") for r in records}) == sorted(drawn)
    assert all(r.metrics["final_loss"] == r.metrics["final_loss"] for r in records)  # not NaN
    lrs = {(r.value("function"), r.value("optimizer")): r.value("lr") for r in records}
    assert lrs["sphere", "lars"] == 10.0 and lrs["saddle", "schedule_free_sgd"] == 0.1
    for name, line in REFUSED.items():
        monkeypatch.setattr(
            "sys.argv", ["netopt-trajectories", f"out={tmp_path / name}", f"optimizer={name}"]
        )
        with pytest.raises(SystemExit) as stop:
            trajectories_main()
        error = capsys.readouterr().err.splitlines()
        assert stop.value.code == 2 and len(error) == 1 and line in error[0], error
        assert not (tmp_path / name).exists()


def test_every_learning_rate_and_field_names_a_preset():
    config.register("trajectories")
    with initialize(version_base="1.3", config_path=None):
        cfg = compose("trajectories")
    named = {name for lrs in cfg.lrs.values() for name in lrs} | set(cfg.fields)
    assert named <= set(config.OPTIONS["optimizer"]) - set(REFUSED)


def test_lars_and_lamb_take_their_trust_ratio_on_the_point_unless_the_command_line_says(tmp_path):
    """The point is a weight, not a bias: ``fields`` turns off their exclusion of 1-D tensors
    (which would step it as momentum and Adam); ``optimizer.exclude_1d`` on the command line wins."""
    _, _, variants = compose_trajectories([f"out={tmp_path / 'a'}", "optimizers=[lars,lamb]"])
    assert [v.optimizer.exclude_1d for v in variants.values()] == [False, False]
    given = [f"out={tmp_path / 'b'}", "optimizers=[lars,lamb]", "++optimizer.exclude_1d=true"]
    _, _, variants = compose_trajectories(given)
    assert [v.optimizer.exclude_1d for v in variants.values()] == [True, True]


def test_tuning_picks_the_lr_that_reaches_the_sphere_minimum_in_one_step(tmp_path):
    """On x^2 + y^2 gradient descent maps p to (1 - 2 lr) p: lr 0.5 lands on the minimum at once
    (final loss exactly 0), every other lr of the grid does not (1.0 bounces between p and -p)."""
    tune = "tune={factors: [0.1, 0.3, 1, 3, 5, 10], seeds: [7, 8]}"
    out = trajectories(
        [f"out={tmp_path}", "functions=[sphere]", "optimizers=[sgd]", "lrs.sphere.sgd=0.1", tune]
    )
    records = read_records(out / "records.jsonl")
    assert {r.value("lr") for r in records} == {0.5} and records[0].metrics["final_loss"] == 0.0
    grid = read_records(out / "tuning.jsonl")
    assert sorted({r.value("lr") for r in grid}) == pytest.approx([0.01, 0.03, 0.1, 0.3, 0.5, 1.0])
    assert sorted({r.seed for r in grid}) == [7, 8] and len(grid) == 6 * 2
    assert (out / "tuning.png").stat().st_size > 10_000
    report = (out / "report.md").read_text()
    assert "](tuning.png)" in report and "the tuning seeds, which the claims do not use" in report


def test_tuning_on_the_ridge_without_noise_keeps_the_presets_lr(tmp_path):
    """No lr leaves the ridge without noise: every grid point ties (never escaped: steps + 1), and
    the tie goes to the preset's lr."""
    tune = "tune={factors: [0.1, 1, 10], seeds: [7]}"
    out = trajectories(
        [f"out={tmp_path}", "functions=[saddle]", "optimizers=[sgd]", "start.saddle=[-1.5,0.0]", tune]
    )
    assert {r.metrics["criterion"] for r in read_records(out / "tuning.jsonl")} == {151.0}
    assert {r.value("lr") for r in read_records(out / "records.jsonl")} == {0.05}


def test_tuning_criterion_and_ties():
    from netopt.landscape.toy import MONKEY_SADDLE, SPHERE, Trajectory
    from netopt.studies.trajectories_tuning import best, criterion

    path = torch.tensor([[1.0, 1.0], [0.5, 0.5]])
    assert criterion(SPHERE, Trajectory(path, SPHERE(path), False)) == 0.5
    assert criterion(SPHERE, Trajectory(path, SPHERE(path), True)) == float("inf")  # ran off
    assert criterion(MONKEY_SADDLE, Trajectory(path, MONKEY_SADDLE(path), False, 1)) == 1.0
    assert criterion(MONKEY_SADDLE, Trajectory(path, MONKEY_SADDLE(path), False)) == 2.0  # never: steps + 1
    assert best({0.1: 3.0, 1.0: 3.0, 10.0: 3.0}, 1.0) == 1.0  # a tie: the preset's
    assert best({0.1: 3.0, 0.5: 2.0, 3.0: 2.0}, 1.0) == 0.5  # a tie: the nearer to the preset's
    assert best({0.3: 3.0, 3.0: 3.0, 30.0: 1.0}, 3.0) == 30.0


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ("tune={factors: [1], seeds: [9, 0]}", r"tune.seeds=\[9, 0\]: must be seeds apart from `seeds`"),
        (
            "tune={factors: [0, 1], seeds: [9]}",
            r"tune.factors=\[0, 1\]: must be a list of finite numbers > 0",
        ),
        ("tune=[1]", r"tune=\[1\]: must be null or \{factors"),
        ("optimizer.lr=0.1", r"tune: optimizer.lr fixes every lr"),
    ],
)
def test_a_mistaken_tuning_stops_before_any_path_runs(tmp_path, override, error):
    with pytest.raises(UserError, match=error):
        tuned = [] if override.startswith("tune") else ["tune={factors: [1], seeds: [9]}"]
        trajectories([f"out={tmp_path / 'out'}", *tuned, override])
    assert not (tmp_path / "out").exists()
