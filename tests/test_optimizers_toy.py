"""experiment=optimizers_toy of netopt-trajectories: every optimizer on the 2-D functions without and
with gradient noise, 3 seeds, and the chapter's saddle-point and ill-conditioning claims checked on
the paths. The noise is the ``grad_noise`` group's, its eta set to each level of ``noise``."""

import json

import pytest
from hydra import compose, initialize

from netopt import config
from netopt.cli.trajectories import main as trajectories_main
from netopt.errors import UserError
from netopt.report.claims import VERDICTS, Claim
from netopt.report.records import read_records
from netopt.studies.trajectories import trajectories


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
    assert noisy == ["holds", "holds"] and exact == ["by construction", "by construction"], saddle


@pytest.mark.slow
def test_optimizers_toy_preset_writes_its_report(tmp_path):
    out = trajectories([f"out={tmp_path}", "experiment=optimizers_toy"])
    for name in ("saddle.png", "quadratic.png", "report.md", "report.html", "records.jsonl"):
        assert (out / name).stat().st_size > 0
    assert len(read_records(out / "records.jsonl")) == 7 * 5 * 2 * 5
    found = verdicts(out)
    assert len(found) == 9 and all(v["verdict"] in VERDICTS for v in found.values())
