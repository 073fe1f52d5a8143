"""Grid search over a space, the anytime curve of a search (best objective against epochs spent), and
the hpo_budget experiment (netopt-hpo-budget): its report from given searches, and a miniature
of the whole experiment (slow)."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from netopt.hpo import (
    Choice,
    GridSearch,
    Hyperband,
    Integer,
    Record,
    SearchSpace,
    Uniform,
    anytime,
    best_within,
    spent_epochs,
)
from netopt.studies.hpo_budget import Search, claims
from netopt.studies.hpo_budget_report import report


def done(trial: int, value: float, epochs: int | None, budget: int | None = None, status="completed"):
    return Record(trial, {"x": trial}, budget, status=status, objective=value, epochs=epochs)


def test_grid_takes_cell_centres_in_row_major_order():
    space = SearchSpace(
        [
            Uniform("lr", 1e-3, 1.0, log=True),
            Uniform("momentum", 0.0, 0.9),
            Integer("depth", 1, 2),
            Choice("act", ("relu", "tanh")),
        ]
    )
    grid = GridSearch(space, points=3, batch_size=4)
    assert grid.values(space.dimensions[0]) == pytest.approx([10**-2.5, 10**-1.5, 10**-0.5])
    assert grid.values(space.dimensions[1]) == pytest.approx([0.15, 0.45, 0.75])
    assert grid.values(space.dimensions[2]) == [1, 2]  # 3 centres of 2 integers: repeats dropped
    assert grid.values(space.dimensions[3]) == ["relu", "tanh"]  # every choice, whatever the points
    assert grid.n_trials == 3 * 3 * 2 * 2
    first = grid.configs[0]
    assert first["momentum"] == pytest.approx(0.15) and (first["depth"], first["act"]) == (1, "relu")
    assert [c["act"] for c in grid.configs[:3]] == ["relu", "tanh", "relu"]  # the last key fastest
    jobs = grid.ask([])
    assert [j.trial for j in jobs] == [0, 1, 2, 3]
    records = [Record(j.trial, j.params, status="completed", objective=0.0) for j in jobs]
    assert [j.trial for j in grid.ask(records)] == [4, 5, 6, 7]
    finished = [Record(i, c, status="completed", objective=0.0) for i, c in enumerate(grid.configs)]
    assert grid.ask(finished) == []


def test_spent_epochs_count_what_a_promoted_trial_trains_beyond_its_checkpoint():
    records = [
        done(0, 0.5, epochs=1, budget=1),
        done(1, 0.6, epochs=1, budget=1),
        done(1, 0.8, epochs=3, budget=3),  # promoted: continues from epoch 1
        done(1, 0.9, epochs=9, budget=9),
        done(2, math.nan, epochs=None, budget=1, status="failed"),  # nothing recorded: its budget
        done(3, math.nan, epochs=None, status="failed"),  # no budget either: nothing
    ]
    assert spent_epochs(records) == [1, 1, 2, 6, 1, 0]


def test_anytime_is_the_best_so_far_against_cumulative_epochs():
    records = [
        done(0, 0.7, 9),
        done(1, math.nan, 4, status="diverged"),  # spends its epochs, finds nothing
        done(2, 0.6, 9),
        done(3, 0.9, 9),
    ]
    curve = anytime(records)
    assert curve.epochs.tolist() == [9, 13, 22, 31]
    assert curve.best.tolist() == [0.7, 0.7, 0.7, 0.9]
    lowest = anytime(records, maximize=False)
    assert lowest.best.tolist() == [0.7, 0.7, 0.6, 0.6]
    within = best_within(curve, [0, 8, 9, 21, 22, 31, 100])
    assert np.isnan(within[:2]).all()  # nothing had finished
    assert within[2:].tolist() == [0.7, 0.7, 0.7, 0.9, 0.9]  # a job counts once its epochs are spent


def test_anytime_of_nothing_or_only_failures_is_nan():
    assert len(anytime([]).best) == 0 and np.isnan(best_within(anytime([]), [5])).all()
    failed = anytime([done(0, math.nan, 2, status="failed")])
    assert failed.epochs.tolist() == [2] and np.isnan(failed.best).all()


def test_anytime_of_a_hyperband_schedule_spends_its_total_epochs():
    """Run Hyperband's schedule with a made-up objective (more epochs, better): the curve ends at
    the epochs :meth:`Hyperband.total_epochs` counts, with the best value found."""
    search = Hyperband(SearchSpace([Uniform("x", 0.0, 1.0)]), max_epochs=9, eta=3)
    records: list[Record] = []
    while jobs := search.ask(records):
        records += [
            Record(
                j.trial,
                j.params,
                j.budget,
                status="completed",
                objective=j.params["x"] * j.budget,
                epochs=j.budget,
            )
            for j in jobs
        ]
    curve = anytime(records)
    assert curve.epochs[-1] == search.total_epochs() == 69
    assert curve.best[-1] == max(r.objective for r in records)
    assert (np.diff(curve.epochs) > 0).all() and (np.diff(curve.best) >= 0).all()


def test_report_from_given_searches_checks_every_claim(tmp_path):
    """The report of hpo_budget from made-up searches (no training): figures, table, anytime.csv and a
    verdict computed for every claim."""
    budget = 12

    def search(name: str, seed: int, values: list[float], epochs: list[int], budgets=None) -> object:
        budgets = budgets or [None] * len(values)
        records = [
            Record(
                t,
                {"optimizer.lr": 0.01 * (t + 1), "optimizer.momentum": 0.5},
                b,
                status="completed",
                objective=v,
                epochs=e,
                run_dir=str(tmp_path / f"{name}_seed{seed}" / f"{t:03d}"),
                metrics={"test_acc": v - 0.02},
            )
            for t, (v, e, b) in enumerate(zip(values, epochs, budgets, strict=True))
        ]
        return Search(name, seed, tmp_path / f"{name}_seed{seed}", records, 1.0)

    searches = []
    for seed in (0, 1, 2):  # three seeds, each search deterministic: the differences are exact
        searches += [
            search("grid", seed, [0.5, 0.6, 0.7, 0.8], [3, 3, 3, 3]),
            search("random", seed, [0.9, 0.6, 0.7, 0.8], [3, 3, 3, 3]),
            search("bayes", seed, [0.6, 0.9, 0.7, 0.95], [3, 3, 3, 3]),
        ]
        hyperband = search("hyperband", seed, [0.4, 0.5, 0.7], [1, 1, 1], [1, 1, 1])
        promoted = replace(hyperband.records[2], objective=0.85, epochs=3, budget=3)
        searches.append(replace(hyperband, records=[*hyperband.records, promoted]))
    failed = replace(searches[0].records[0], status="failed", objective=math.nan, error="boom")
    searches[0] = replace(searches[0], records=[failed, *searches[0].records[1:]])
    path = report(tmp_path, searches, budget, "netopt-hpo-budget --grid 2 --epochs 3")
    assert path == (tmp_path / "report.html").resolve()
    for name in ("anytime.png", "trials.png", "anytime.csv", "report.md", "claims.json"):
        assert (tmp_path / name).stat().st_size > 0
    verdicts = json.loads((tmp_path / "claims.json").read_text())
    assert len(verdicts) == len(claims(budget))

    def verdict(start: str) -> dict:
        return next(v for v in verdicts if v["statement"].startswith(start))

    assert verdict("Random search")["verdict"] == "holds"  # 0.9 >= 0.8 - 0.005
    faster = verdict("Hyperband finds")
    assert faster["metric"] == "best_val_acc@4" and faster["verdict"] == "does not hold"
    assert faster["left"]["value"] == pytest.approx(0.7) and faster["right"]["value"] == pytest.approx(0.9)
    chosen = verdict("What a search is for")  # random chose 0.9 (tests 0.88), the grid 0.8 (0.78)
    assert chosen["verdict"] == "holds" and chosen["left"]["value"] == pytest.approx(0.88)
    md = (tmp_path / "report.md").read_text()
    assert "| hyperband | 3 | 4 | 3 | 5 |" in md  # 3 configurations, 4 jobs, 3 lrs, 3 + 2 epochs
    assert "`grid_seed0/000`: failed: boom" in md


@pytest.mark.slow
def test_hpo_budget_miniature_writes_the_report_with_verdicts(tmp_path):
    """The whole experiment at a tiny budget: 7 searchers, one seed, a 2 x 2 grid of 3-epoch trials."""
    from netopt.cli.hpo_budget import run

    out = tmp_path / "out"
    args = ["--seeds", "0", "--grid", "2", "--epochs", "3", "--out", str(out)]
    args += ["dataset=digits", "dataset.train_size=null"]
    args.append("trainer.limit_batches=2")
    path = run(args)
    assert path == (out / "report.html").resolve() and (out / "report.md").exists()
    verdicts = json.loads((out / "claims.json").read_text())
    assert len(verdicts) == 10 and all(
        v["verdict"] in ("inconclusive", "undecided") for v in verdicts
    )  # 1 seed
    for name in ("grid", "random", "bayes", "hyperband", "asha", "bohb", "pbt"):
        folder = out / f"{name}_seed0"
        assert (folder / "results.csv").exists() and (folder / "journal.jsonl").exists()
    rows = (out / "anytime.csv").read_text().splitlines()
    searchers = [row.split(",")[0] for row in rows[1:]]
    # grid, random, bayes: 4 trials; Hyperband and BOHB (max 3): 3 + 1 + 2 jobs; PBT: 4 members x 3
    assert [searchers.count(name) for name in ("grid", "random", "bayes", "hyperband", "bohb", "pbt")] == [
        4,
        4,
        4,
        6,
        6,
        12,
    ]
