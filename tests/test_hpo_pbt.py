"""Population-based training: exploit and explore on a toy objective, the fork that copies a donor's
checkpoint and records the lineage (on the test app), and the sanctioned exception to resume's
refusal of changed settings in a netopt run folder."""

import json
import math
import statistics
from dataclasses import replace
from pathlib import Path

import pytest

from netopt.errors import UserError
from netopt.hpo import PBT, Choice, Job, Record, SearchSpace, Uniform
from tests.test_hpo_sweepers import SPACE, journal, launches, results, sweep

RATE = SearchSpace([Uniform("h", 0.01, 1.0, log=True), Choice("kind", ("a", "b"))])


def gain(params: dict) -> float:
    """Progress a toy member makes per epoch: best at h = 0.3 and kind b."""
    return 1 - (math.log10(params["h"]) - math.log10(0.3)) ** 2 + 0.2 * (params["kind"] == "b")


def run_population(search: PBT, fail: set[tuple[int, int]] = frozenset()) -> list[Record]:
    """Run the toy members generation by generation: a member's score is the progress summed along
    its lineage (a fork starts from its donor's), as a checkpoint would carry it."""
    records: dict[tuple, Record] = {}
    progress: dict[tuple, float] = {}
    while jobs := search.ask(list(records.values())):
        for job in jobs:
            start = (
                0 if job.budget == search.budgets[0] else search.budgets[search.budgets.index(job.budget) - 1]
            )
            source = job.trial if job.parent is None else job.parent
            value = progress.get((source, start), 0.0) + (job.budget - start) * gain(job.params)
            progress[job.key] = value
            status = "failed" if job.key in fail else "completed"
            records[job.key] = replace(Record.pending(job), status=status, objective=value, epochs=job.budget)
    return list(records.values())


def test_the_bottom_quantile_copies_a_top_member_and_perturbs_its_values():
    search = PBT(RATE, population=8, interval=2, max_epochs=6, quantile=0.25, seed=4)
    assert search.budgets == [2, 4, 6]
    first = search.ask([])
    assert [(j.trial, j.budget, j.parent) for j in first] == [(m, 2, None) for m in range(8)]
    ended = [replace(Record.pending(j), status="completed", objective=float(j.trial)) for j in first]
    assert search.ask(ended[:7] + [Record.pending(first[7])]) == []  # the generation is not over
    second = search.ask(ended)
    assert [j.trial for j in second[:2]] == sorted(j.trial for j in second if j.parent is not None)
    by_member = {j.trial: j for j in second}
    for member in (0, 1):  # the bottom quarter of 8 (objective = member id)
        job = by_member[member]
        assert job.parent in (6, 7) and job.budget == 4
        donor = first[job.parent].params
        ratio = job.params["h"] / donor["h"]
        resampled = not (math.isclose(ratio, 0.8) or math.isclose(ratio, 1.2))
        assert resampled or 0.01 <= job.params["h"] <= 1.0
    for member in range(2, 8):  # the others go on with their own values and checkpoints
        assert by_member[member] == Job(member, first[member].params, 4)
    assert search.ask(ended) == second  # the same records, the same decisions (a resumed sweep)


def test_a_failed_member_is_replaced_at_the_next_generation():
    search = PBT(RATE, population=4, interval=1, max_epochs=2, quantile=0.25, seed=0)
    records = run_population(search, fail={(2, 1)})
    replaced = next(r for r in records if r.trial == 2 and r.budget == 2)
    assert replaced.parent is not None and replaced.status == "completed"


def test_pbt_beats_the_constant_values_it_started_from_on_a_toy_objective():
    """The best member's progress after 12 epochs against the best of the same 8 starting values
    trained 12 epochs each without exploiting (the median over 5 seeds)."""
    found, constant = [], []
    for seed in range(5):
        search = PBT(RATE, population=8, interval=2, max_epochs=12, quantile=0.25, seed=seed)
        final = [r for r in run_population(search) if r.budget == 12]
        found.append(max(r.objective for r in final))
        constant.append(max(12 * gain(c) for c in search.configs))
    assert statistics.median(found) > statistics.median(constant)


def test_bad_settings_are_one_line_each():
    with pytest.raises(UserError, match=r"hydra.sweeper.quantile=0.7: must be in \(0, 0.5\]"):
        PBT(RATE, quantile=0.7)
    with pytest.raises(UserError, match="interval"):
        PBT(RATE, interval=0)


def test_a_pbt_sweep_forks_from_the_donors_state_and_records_the_lineage(tmp_path):
    args = ["hydra/sweeper=pbt", "hydra.sweeper.population=4", "hydra.sweeper.interval=1"]
    args += ["hydra.sweeper.max_epochs=2", "hydra.sweeper.checkpoint=state.json", *SPACE]
    sweep(tmp_path, *args)
    lines = [j for j in journal(tmp_path) if j["status"] == "completed"]
    assert sorted((j["trial"], j["budget"]) for j in lines) == [(m, e) for m in range(4) for e in (1, 2)]
    forks = [j for j in lines if j["parent"] is not None]
    assert len(forks) == 1  # the bottom quarter of 4, in the second generation
    for j in forks:
        run = Path(j["run_dir"])
        lineage = json.loads((run / "fork.json").read_text())
        assert lineage["parent"] == j["parent"] and lineage["epoch"] == j["budget"] - 1
        assert lineage["params"] == j["params"] and set(lineage["changed"]) <= {"x1", "x2"}
        assert launches(run) == [1]  # it trained one epoch, on from the donor's state
    rows = results(tmp_path)
    assert len(rows) == 4 and all(int(r["epochs"]) == 2 for r in rows)
    assert (tmp_path / "pbt.png").stat().st_size > 10_000  # the schedules and the lineage


@pytest.mark.slow
def test_netopt_train_pbt_preset_forks_with_the_new_learning_rate(tmp_path):
    from tests.test_hpo_sweepers import train_sweep

    args = ["hydra.sweeper.population=4", "hydra.sweeper.interval=1", "hydra.sweeper.max_epochs=2"]
    done = train_sweep(tmp_path, "hparams_search=pbt", "dataset=digits", "trainer.limit_batches=2", *args)
    assert done.returncode == 0, done.stderr
    rows = results(tmp_path)
    assert len(rows) == 4 and all(r["status"] == "completed" and int(r["epochs"]) == 2 for r in rows)
    forked = [r for r in rows if (Path(r["run_dir"]) / "fork.json").exists()]
    assert len(forked) == 1  # the last of 4 after the first epoch
    run = Path(forked[0]["run_dir"])
    lineage = json.loads((run / "fork.json").read_text())
    epochs = (run / "epochs.csv").read_text().splitlines()
    header = epochs[0].split(",")
    lrs = [float(line.split(",")[header.index("lr")]) for line in epochs[1:]]
    assert len(lrs) == 2  # the donor's epoch and its own
    assert math.isclose(lrs[0], lineage["parent_params"]["optimizer.lr"], rel_tol=1e-6)
    assert math.isclose(lrs[1], lineage["params"]["optimizer.lr"], rel_tol=1e-6)


def test_a_fork_may_change_the_keys_it_recorded_and_no_other(tmp_path):
    import torch

    from netopt.run.folder import RunFolder

    config = {"optimizer": {"lr": 0.1, "momentum": 0.9}, "trainer": {"max_epochs": 2}}
    torch.save({"config": config, "history": {"epoch": 1}}, tmp_path / "checkpoint.pt")
    wanted = {"optimizer": {"lr": 0.08, "momentum": 0.9}, "trainer": {"max_epochs": 2}}
    with pytest.raises(UserError, match=r"other settings \(optimizer.lr: 0.1 -> 0.08\)"):
        RunFolder(tmp_path).resumable(wanted, "auto")
    (tmp_path / "fork.json").write_text(json.dumps({"parent": 3, "changed": ["optimizer.lr"]}))
    assert RunFolder(tmp_path).resumable(wanted, "auto")["config"] == config
    other = {"optimizer": {"lr": 0.08, "momentum": 0.5}, "trainer": {"max_epochs": 2}}
    with pytest.raises(UserError, match=r"other settings \(optimizer.momentum: 0.9 -> 0.5\)"):
        RunFolder(tmp_path).resumable(other, "auto")
    (tmp_path / "fork.json").write_text("[]")
    with pytest.raises(UserError, match="fork.json: not the record of a fork"):
        RunFolder(tmp_path).resumable(wanted, "auto")


def test_an_asynchronous_pbt_sweep_forks_from_the_donors_state_at_its_epoch(tmp_path):
    """hydra.sweeper.barrier=false: each member decides when it reports; a fork starts from the state
    its donor kept at the epoch it was ranked at (state.epoch<e>.json), on the pool's 2 workers."""
    args = ["hydra/sweeper=pbt", "hydra.sweeper.population=4", "hydra.sweeper.interval=1"]
    args += ["hydra.sweeper.max_epochs=2", "hydra.sweeper.checkpoint=state.json", *SPACE]
    args += ["hydra.sweeper.barrier=false", "hydra.sweeper.quantile=0.5"]
    sweep(tmp_path, *args)
    lines = [j for j in journal(tmp_path) if j["status"] == "completed"]
    assert sorted((j["trial"], j["budget"]) for j in lines) == [(m, e) for m in range(4) for e in (1, 2)]
    forks = [j for j in lines if j["parent"] is not None]
    assert forks
    for j in forks:
        run = Path(j["run_dir"])
        assert json.loads((run / "fork.json").read_text())["epoch"] == j["budget"] - 1
        assert launches(run)[0] == 1  # one epoch, on from the donor's kept state (then its own)
        assert (run / f"state.epoch{j['budget']}.json").exists()
