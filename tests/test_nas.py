"""The NAS experiment (netopt-nas): its space and default architecture, its report from made-up runs,
and a miniature of the whole command (slow). Its claims' controls are in test_controls.py."""

import json

import pytest

from netopt.hpo import Record
from netopt.report.records import RunRecord
from netopt.studies.nas import DEFAULT, SPACE, chosen, claims, describe
from netopt.studies.nas_report import report


def test_the_default_is_the_mlps_own_and_a_point_of_the_space():
    assert DEFAULT == {"model.depth": 2, "model.width": 128, "model.activation": "relu", "model.dropout": 0.0}
    assert SPACE.names == list(DEFAULT)
    assert SPACE.encode([DEFAULT]).shape == (1, SPACE.encoded_width)  # each value is one the space holds
    assert describe(DEFAULT) == "2 x 128 relu, dropout 0"


def test_claims_name_the_search_cost_and_the_best_the_search_saw():
    first, second = claims(16, 10, 0.8612)
    assert "16 trials x 10 epochs = 160 epochs of search, 16 times one run" in first["statement"]
    assert first["right"] == {"architecture": "default"} and first["metric"] == "test_acc"
    assert second["right"] == 0.8612 and "0.8612" in second["statement"]


def trial(i: int, value: float, status: str = "completed") -> Record:
    params = {**DEFAULT, "model.width": 64 * (i + 1)}
    return Record(i, params, status=status, objective=value, epochs=3, run_dir=f"/x/search/{i:03d}")


def test_the_search_chooses_its_best_completed_trial():
    assert chosen([trial(0, 0.80), trial(1, 0.83), trial(2, 0.9, "diverged")]).trial == 1
    with pytest.raises(RuntimeError, match="no trial of the search completed"):
        chosen([trial(0, 0.9, "failed")])


def test_report_from_made_up_runs_judges_both_claims(tmp_path):
    """Searched tests 0.010 above default on every seed (holds); on fresh seeds it validates 0.84-0.85,
    below the search's best 0.87 (holds)."""
    trials = [trial(0, 0.80), trial(1, 0.87), trial(2, 0.83)]
    records = []
    for seed in range(5):
        for name, test in (("searched", 0.85), ("default", 0.84)):
            metrics = {"train_acc": 0.9, "val_acc": 0.84 + 0.002 * seed, "test_acc": test + 0.001 * seed}
            records.append(RunRecord({"architecture": name}, metrics, seed, tmp_path / f"{name}_seed{seed}"))
    path = report(tmp_path, trials, records, 3, "netopt-nas --trials 3 --epochs 3")
    assert path == (tmp_path / "report.html").resolve()
    for name in ("search.png", "records.jsonl", "report.md", "claims.json", "claims.png"):
        assert (tmp_path / name).stat().st_size > 0
    verdicts = json.loads((tmp_path / "claims.json").read_text())
    assert [v["verdict"] for v in verdicts] == ["holds", "holds"]
    assert verdicts[0]["effect"]["mean"] == pytest.approx(0.01)
    md = (tmp_path / "report.md").read_text()
    assert "chose 2 x 128 relu, dropout 0 (val_acc 0.8700, trial 1); the search spent 9 epochs" in md
    assert "| searched | 2 | 128 | relu | 0 |" in md and "| default | 2 | 128 | relu | 0 |" in md


@pytest.mark.slow
def test_miniature_searches_compares_and_reports(tmp_path):
    """The whole command at a tiny budget: 3 trials, 2 seeds of each architecture, 1 epoch on digits."""
    from netopt.cli.nas import run

    out = tmp_path / "out"
    args = ["--trials", "3", "--epochs", "1", "--seeds", "0", "1", "2", "--out", str(out)]
    path = run([*args, "dataset=digits", "dataset.train_size=null", "trainer.limit_batches=2"])
    assert path == (out / "report.html").resolve()
    assert (out / "search" / "results.csv").exists() and (out / "search" / "best.yaml").exists()
    assert len(list((out / "search").glob("00?_*"))) == 3
    assert {p.name for p in out.glob("*_seed*")} == {
        f"{a}_seed{s}" for a in ("searched", "default") for s in range(3)
    }
    verdicts = json.loads((out / "claims.json").read_text())
    assert len(verdicts) == 2 and all(v["effect"]["n"] == 3 for v in verdicts)


def test_the_search_seed_is_not_a_seed_of_the_comparison(tmp_path, capsys):
    from netopt.cli.nas import run

    with pytest.raises(SystemExit):
        run(["--search-seed", "0", "--out", str(tmp_path / "out")])
    assert "--search-seed 0: one of --seeds" in capsys.readouterr().err
