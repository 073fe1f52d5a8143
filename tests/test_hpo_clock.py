"""The simulated clock of netopt-hpo-budget (rounds wait for their slowest job, an asynchronous search
does not; the budget of epochs; idle share and time to a target), asynchronous PBT, and the whole
study at a miniature scale with a made-up training (every searcher, the report and its claims)."""

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from netopt.hpo import ASHA, PBT, Hyperband, Job, Record
from netopt.hpo.fork import fork, keep
from netopt.studies.hpo_budget import SEARCHERS, SPACE, claims, compare
from netopt.studies.hpo_budget_report import report
from netopt.studies.hpo_clock import idle_share, run_on_clock, time_to


def toy_value(params: dict, epochs: int) -> float:
    """A learning curve in [0, 1): better near lr 0.1, and with more epochs."""
    return (1 - math.exp(-epochs / 3)) / (1 + math.log10(params["optimizer.lr"] / 0.1) ** 2)


def launcher(seconds_per_epoch: dict[int, float]):
    """A launch whose job lasts (epochs it adds) x the trial's seconds per epoch, all of it in the trial."""
    trained: dict[int, int] = {}

    def launch(job: Job, records: list[Record]) -> tuple[Record, float]:
        seconds = (job.budget - trained.get(job.trial, 0)) * seconds_per_epoch[job.trial % 2]
        trained[job.trial] = job.budget
        value = toy_value(job.params, job.budget)
        done = replace(Record.pending(job), status="completed", objective=value, epochs=job.budget)
        return replace(done, metrics={"trial_s": seconds}), seconds

    return launch


def test_rounds_wait_for_their_slowest_job_and_an_asynchronous_search_does_not():
    """Odd trials take three times as long as even ones: synchronous Hyperband's workers wait at every
    round, ASHA's only at the end (the drain), and each job starts when a worker is free."""
    speeds = {0: 1.0, 1: 3.0}
    rounds = run_on_clock(Hyperband(SPACE, max_epochs=9, seed=0), launcher(speeds), 2, False)
    assert len(rounds) == 17 + 3 + 1 + 1  # 17 configurations, 5 promotions
    starts = sorted({r.metrics["start_s"] for r in rounds})
    assert all(  # a round starts when the one before has ended
        s == max(r.metrics["end_s"] for r in rounds if r.metrics["start_s"] == before)
        for before, s in zip(starts, starts[1:], strict=False)
    )
    asha = run_on_clock(ASHA(SPACE, max_epochs=9, n_trials=100, seed=0), launcher(speeds), 2, True, budget=69)
    assert sum(r.epochs - (r.budget // 3 if r.budget > 1 else 0) for r in asha) <= 69
    ends = sorted(r.metrics["end_s"] for r in asha)
    assert {r.metrics["start_s"] for r in asha} <= {0.0, *ends}  # every start is a worker freeing up
    last_start = max(r.metrics["start_s"] for r in asha)
    assert idle_share(asha, 2, until_drain=True) == pytest.approx(0.0, abs=1e-9)
    assert idle_share(rounds, 2, until_drain=True) > 0.2
    assert idle_share(asha, 2) < idle_share(rounds, 2)
    assert ends[-1] - last_start <= 6 * 3.0  # the drain: one job at most
    best = max(r.objective for r in rounds)
    assert time_to(rounds, best) == min(r.metrics["end_s"] for r in rounds if r.objective == best)
    assert math.isnan(time_to(rounds, 2.0))


def test_a_round_never_passes_the_budget():
    records = run_on_clock(Hyperband(SPACE, max_epochs=9, seed=0), launcher({0: 1.0, 1: 1.0}), 2, False, 30)
    assert 0 < len(records) < 22
    spent = {}
    for r in records:
        spent[r.trial] = r.epochs
    assert sum(spent.values()) <= 30


def test_asynchronous_pbt_decides_as_each_member_reports():
    """Without a barrier a member that reports goes on at once: ranked among those that reached its
    epoch, once a quarter of them is at least one member."""
    search = PBT(SPACE, population=8, interval=2, max_epochs=6, quantile=0.25, seed=1, barrier=False)
    first = search.ask([])
    assert [(j.trial, j.budget) for j in first] == [(m, 2) for m in range(8)]
    ended = {j.trial: replace(Record.pending(j), status="completed", objective=float(j.trial)) for j in first}
    running = [Record.pending(j) for j in first]
    three = [ended[m] if m < 3 else running[m] for m in range(8)]
    assert [(j.trial, j.parent) for j in search.ask(three)] == [(m, None) for m in range(3)]  # too few
    four = [ended[m] if m in (0, 5, 6, 7) else running[m] for m in range(8)]
    jobs = {j.trial: j for j in search.ask(four)}
    assert set(jobs) == {0, 5, 6, 7} and jobs[0].parent == 7 and jobs[0].budget == 4  # the bottom of 4
    assert all(jobs[m] == Job(m, first[m].params, 4) for m in (5, 6, 7))


def test_a_fork_copies_the_donors_checkpoint_of_the_epoch_it_was_ranked_at(tmp_path):
    donor = tmp_path / "donor"
    donor.mkdir()
    (donor / "checkpoint.pt").write_text("epoch 2")
    keep(donor, "checkpoint.pt", 2)
    (donor / "checkpoint.pt").write_text("epoch 4")  # the donor trained on meanwhile
    ranked_at = Record(7, {"x": 1.0}, 2, status="completed", objective=1.0, run_dir=str(donor))
    child = tmp_path / "child"
    fork(Job(0, {"x": 1.2}, 4, parent=7), [ranked_at], child, "checkpoint.pt")
    assert (child / "checkpoint.pt").read_text() == "epoch 2"
    assert json.loads((child / "fork.json").read_text())["epoch"] == 2


def toy_fit(cfg, run_dir: Path) -> dict:
    """A made-up run: continues from its checkpoint (a JSON of its epochs and value) to max_epochs."""
    run_dir.mkdir(parents=True, exist_ok=True)
    state = run_dir / "checkpoint.pt"
    before = json.loads(state.read_text()) if state.exists() else {"epochs": 0, "value": 0.0}
    params = {"optimizer.lr": cfg.optimizer.lr}
    epochs = cfg.trainer.max_epochs
    gain = toy_value(params, epochs) - toy_value(params, before["epochs"])
    value = before["value"] + gain
    state.write_text(json.dumps({"epochs": epochs, "value": value}))
    return {"val_acc": value, "test_acc": value - 0.01, "epochs": epochs, "wall_time_s": 0.0}


def test_the_study_runs_every_searcher_on_the_clock_and_judges_every_claim(tmp_path):
    """The whole study with a made-up training: every searcher but Bayes (its GP fits take seconds)
    x 2 seeds, a 2 x 2 grid of 3-epoch trials; each search keeps to the budget, PBT forks, every
    claim gets a verdict."""
    base = OmegaConf.create({"optimizer": {"lr": 0.1, "momentum": 0.9}, "trainer": {"max_epochs": 3}})
    searchers = [name for name in SEARCHERS if name != "bayes"]
    searches = compare({0: base, 1: base}, searchers, 2, 3, tmp_path, toy_fit, log=lambda line: None)
    assert len(searches) == 12
    for s in searches:
        assert s.curve.epochs[-1] <= 12 and (s.folder / "journal.jsonl").exists()
        assert all(r.metrics["end_s"] >= r.metrics["start_s"] for r in s.records)
    assert list((tmp_path / "pbt_seed0").glob("*/fork.json"))  # exploited at least once
    report(tmp_path, searches, 12, "netopt-hpo-budget --grid 2 --epochs 3")
    verdicts = json.loads((tmp_path / "claims.json").read_text())
    assert len(verdicts) == len(claims(12)) == 10
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    asha = next(r for r in records if r["settings"]["searcher"] == "asha")
    assert 0 <= asha["metrics"]["idle_share"] <= 1
    assert "idle share" in (tmp_path / "report.md").read_text()


def test_an_asynchronous_pbt_member_that_diverged_waits_for_a_donor():
    search = PBT(SPACE, population=4, interval=1, max_epochs=2, seed=0, barrier=False)
    first = search.ask([])
    diverged = replace(Record.pending(first[0]), status="diverged")
    assert [j.trial for j in search.ask([diverged, *map(Record.pending, first[1:])])] == []
    done = replace(Record.pending(first[1]), status="completed", objective=0.5)
    jobs = {j.trial: j for j in search.ask([diverged, done, *map(Record.pending, first[2:])])}
    assert (jobs[0].parent, jobs[0].budget) == (1, 2) and jobs[1] == Job(1, first[1].params, 2)
