"""The sweep report: runs read from fake run folders, configurations over seeds, 95% intervals against
scipy, labels, claims, the figures in report.html, the CLI and the summary callback."""

import base64
import csv
import json
import logging
import math
import re
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf
from scipy import stats

from netopt.cli.report import main
from netopt.errors import UserError
from netopt.labels import label, short_names, short_value, varying_keys
from netopt.report import figures, step_series, write_report
from netopt.report.claims import Claim, counts, judge
from netopt.report.configs import group, ranked
from netopt.report.records import RunRecord, read_records, write_records
from netopt.report.runs import read_runs
from netopt.report.stats import difference, estimate, mean_ci
from netopt.run.record import EPOCH_COLUMNS


def fake_run(
    run_dir: Path,
    overrides: list[str],
    metrics: dict,
    epochs: list[dict] | None = None,
    config: dict | None = None,
) -> Path:
    """A run folder as netopt-train leaves it: metrics.json, .hydra/{overrides,config,hydra}.yaml and
    epochs.csv. Group overrides (no dot) become hydra.runtime.choices, field overrides config values."""
    hydra = run_dir / ".hydra"
    hydra.mkdir(parents=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    (hydra / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    composed = OmegaConf.create(config or {"trainer": {"seed": 0}})
    choices = {}
    for line in overrides:
        key, value = line.split("=", 1)
        if "." in key:
            OmegaConf.update(composed, key, yaml.safe_load(value), force_add=True)
        else:
            choices[key] = value
    (hydra / "config.yaml").write_text(OmegaConf.to_yaml(composed))
    (hydra / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"runtime": {"choices": choices}}}))
    if epochs is not None:
        with (run_dir / "epochs.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, EPOCH_COLUMNS)
            writer.writeheader()
            writer.writerows(epochs)
    return run_dir


def completed(acc: float, epochs: int = 3, **more) -> dict:
    return {
        "status": "completed",
        "train_loss": 0.3,
        "train_acc": min(0.999, acc + 0.03 + 0.04 * (1 - acc)),
        "train_loss_running": 0.35,
        "train_acc_running": min(0.999, acc + 0.02),
        "val_loss": 0.4,
        "val_acc": acc,
        "best_val_acc": acc,
        "best_epoch": epochs,
        "test_loss": 0.4,
        "test_acc": acc - 0.01,
        "epochs": epochs,
        "steps": 10 * epochs,
        "wall_time_s": 1.5 * epochs,
        "samples_per_s": 1000.0,
        **more,
    }


def curve(final_acc: float, n: int, seed: int, diverge_at: int | None = None) -> list[dict]:
    """epochs.csv rows approaching final_acc; the loss becomes NaN at diverge_at."""
    rng = np.random.default_rng(seed)
    rows = []
    for e in range(1, n + 1):
        acc = final_acc * (1 - math.exp(-e / 2.5)) + rng.normal(0, 0.01)
        loss = 2.3 * math.exp(-e / 3) + 0.05 + rng.normal(0, 0.01)
        if diverge_at is not None and e >= diverge_at:
            loss, acc = (float("nan"), "") if e > diverge_at else (loss * 30, acc / 3)
        rows.append(
            {
                "epoch": e,
                "step": 10 * e,
                "train_loss_running": loss,
                "train_acc_running": acc,
                "val_loss": loss,
                "val_acc": acc,
                "lr": 0.1,
                "wall_time_s": 1.5 * e,
            }
        )
    return rows


def realistic_sweep(folder: Path, epochs: int = 10) -> Path:
    """optimizer=sgd,adam x optimizer.lr=1e-4..1 (5 values over decades) x trainer.seed=0,1,2: a U-curve in
    lr; adam at lr 1 diverges in every seed, sgd at lr 1 in one seed; one sgd run failed."""
    task = ["optimizer=sgd,adam", "optimizer.lr=0.0001,0.001,0.01,0.1,1.0", "trainer.seed=0,1,2"]
    task += [f"trainer.max_epochs={epochs}"]
    (folder / "multirun.yaml").parent.mkdir(parents=True, exist_ok=True)
    (folder / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"overrides": {"task": task}}}))
    job = 0
    for optimizer, best_lr in (("sgd", 0.1), ("adam", 0.001)):
        for lr in (0.0001, 0.001, 0.01, 0.1, 1.0):
            for seed in range(3):
                rng = np.random.default_rng(job)
                acc = 0.97 - 0.07 * math.log10(lr / best_lr) ** 2 + rng.normal(0, 0.006)
                overrides = [f"optimizer={optimizer}", f"optimizer.lr={lr}", f"trainer.seed={seed}"]
                overrides += [f"trainer.max_epochs={epochs}"]
                diverges = lr == 1.0 and (optimizer == "adam" or seed == 2)
                if diverges:
                    metrics = completed(0.3, epochs=4) | {
                        "status": "diverged",
                        "test_acc": None,
                        "test_loss": None,
                    }
                elif (optimizer, lr, seed) == ("sgd", 0.0001, 1):
                    metrics = {"status": "failed", "error": "RuntimeError: CUDA out of memory"}
                else:
                    metrics = completed(acc, epochs=epochs)
                rows = (
                    None
                    if metrics["status"] == "failed"
                    else curve(acc, epochs, job, 4 if diverges else None)
                )
                fake_run(folder / str(job), overrides, metrics, rows)
                job += 1
    return folder


# ---------------------------------------------------------------------------- statistics


def test_mean_and_95_ci_match_scipy():
    x = [0.91, 0.93, 0.88, 0.95]
    est = mean_ci(x)  # an unbounded metric: Student t
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=stats.sem(x))
    assert est.n == 4 and est.mean == pytest.approx(np.mean(x), abs=1e-12)
    assert (est.low, est.high) == (pytest.approx(lo, rel=1e-9), pytest.approx(hi, rel=1e-9))
    assert est.half_width == pytest.approx((hi - lo) / 2, rel=1e-9)
    assert str(est) == f"{np.mean(x):.3f} [{lo:.3f}, {hi:.3f}]"
    # two values: too few for an interval (t_{0.975,1} = 12.7 would give 0.947 ± 0.248), said so
    two = mean_ci([0.9, 0.8])
    assert not two.has_interval and str(two) == "0.850 (n=2: too few for a CI)"
    assert two.errors == (0.0, 0.0)
    assert mean_ci([0.5, float("nan"), float("inf")]) == mean_ci([0.5])  # non-finite values are left out
    one = mean_ci([0.5])
    assert (one.mean, one.n, math.isnan(one.half_width), str(one)) == (0.5, 1, True, "0.500")
    assert mean_ci([]).n == 0 and str(mean_ci([])) == "-"


def test_a_bounded_metric_gets_a_logit_interval_inside_its_range():
    x = np.array([0.999, 0.95, 0.99])
    est = mean_ci(x, bounds=(0.0, 1.0))
    z = np.log(x / (1 - x))
    lo, hi = stats.t.interval(0.95, len(z) - 1, loc=z.mean(), scale=stats.sem(z))
    assert (est.low, est.high) == (pytest.approx(1 / (1 + np.exp(-lo))), pytest.approx(1 / (1 + np.exp(-hi))))
    assert 0.0 < est.low < est.mean < est.high < 1.0  # the t-interval would reach past 1
    assert mean_ci(x).high > 1.0
    ones = mean_ci([1.0, 1.0, 0.98], bounds=(0.0, 1.0))  # a value on the bound is moved inside it
    assert 0.0 < ones.low < ones.high < 1.0
    outside = mean_ci([1.5, 2.0, 2.5], bounds=(0.0, 1.0))  # values the bounds do not hold: plain t
    assert outside.low == pytest.approx(mean_ci([1.5, 2.0, 2.5]).low)


def test_runs_of_one_seed_are_one_sample_and_identical_seeds_are_duplicates():
    est = estimate([(0, 0.9), (0, 0.8), (1, 0.7), (2, 0.6)])
    assert (est.n, est.runs, est.mean) == (3, 4, pytest.approx((0.85 + 0.7 + 0.6) / 3))
    same = estimate([(0, 0.9), (1, 0.9), (2, 0.9)], bounds=(0.0, 1.0))
    assert same.duplicates and not same.has_interval and str(same) == "0.900 (identical over 3 seeds)"
    assert not estimate([(0, 0.9), (0, 0.9), (0, 0.9)]).duplicates  # one seed run three times


def test_the_difference_from_the_best_is_paired_by_seed_else_welch():
    best = {0: 0.95, 1: 0.96, 2: 0.94, 3: 0.955}
    other = {0: 0.93, 1: 0.95, 2: 0.935, 3: 0.94}
    paired = difference(best, other)
    ci = stats.ttest_rel(list(other.values()), list(best.values())).confidence_interval(0.95)
    assert paired.paired == 4 and (paired.low, paired.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert not paired.indistinguishable and "paired over 4 seeds" in str(paired)
    shifted = {seed + 10: value for seed, value in other.items()}  # no seed in common
    welch = difference(best, shifted)
    ci = stats.ttest_ind(list(shifted.values()), list(best.values()), equal_var=False).confidence_interval()
    assert welch.paired == 0 and (welch.low, welch.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert str(welch).endswith("Welch")
    few = difference({0: 0.9, 1: 0.8}, {0: 0.7, 1: 0.75})
    assert not few.has_interval and str(few) == "-0.125 (too few seeds to compare)"


# ---------------------------------------------------------------------------- runs and configurations


def test_runs_group_into_configurations_without_seed_and_bookkeeping(tmp_path):
    for seed in range(3):
        extra = ["trainer.progress=false", f"trainer.device=cuda:{seed}", "experiment=compare"]
        fake_run(tmp_path / f"a{seed}", ["optimizer=adam", f"trainer.seed={seed}", *extra], completed(0.9))
    fake_run(tmp_path / "b" / "nested", ["optimizer=sgd", "hydra.job.chdir=true"], completed(0.8))
    runs = read_runs(tmp_path)
    assert [r.source.name for r in runs] == ["a0", "a1", "a2", "nested"]
    assert [r.seed for r in runs] == [0, 1, 2, 0]  # from the composed config
    configs, names = group(runs)
    assert names == {"optimizer": "optimizer"}
    assert [(c.label, len(c.runs)) for c in configs] == [("optimizer=adam", 3), ("optimizer=sgd", 1)]


def test_a_record_round_trips_through_records_jsonl_and_names_its_seed(tmp_path):
    fake_run(tmp_path / "0", ["optimizer=adam", "trainer.seed=3"], completed(0.9), curve(0.9, 3, seed=0))
    (record,) = read_runs(tmp_path)
    assert record.settings == {"optimizer": "adam"} and record.seed == 3
    assert record.value("seed") == record.value("trainer.seed") == 3 and record.value("optimizer") == "adam"
    write_records(tmp_path / "records.jsonl", [record])
    (back,) = read_records(tmp_path / "records.jsonl")
    assert (back.settings, back.metrics, back.used) == (record.settings, record.metrics, record.used)
    assert (back.seed, back.source, back.status) == (3, tmp_path / "0", "completed")
    assert back.number("train_loss_running@2") == record.number("train_loss_running@2") and math.isfinite(
        back.number("train_loss_running@2")
    )
    path = RunRecord({"function": "saddle"}, {"escaped": True, "left_box": False, "escape_step": None})
    assert (path.number("escaped"), path.number("left_box")) == (1.0, 0.0)  # a yes/no counts as 1 or 0
    assert math.isnan(path.number("escape_step")) and path.value("seed") is None


def test_jobs_are_read_in_natural_order(tmp_path):
    for job in (10, 2, 1):
        fake_run(tmp_path / str(job), [f"trainer.seed={job}"], completed(0.5))
    assert [r.source.name for r in read_runs(tmp_path)] == ["1", "2", "10"]


def test_varying_keys_short_names_and_labels():
    params = [
        {"optimizer": "adam", "optimizer.lr": "0.01", "dataset": "digits"},
        {"optimizer": "sgd", "optimizer.lr": "0.1", "dataset": "digits"},
        {"optimizer": "sgd", "dataset": "digits"},  # no lr: counts as a value of its own
    ]
    assert varying_keys(params) == ["optimizer", "optimizer.lr"]
    names = short_names(varying_keys(params))
    assert names == {"optimizer": "optimizer", "optimizer.lr": "lr"}
    assert (
        label(params[0], names) == "optimizer=adam, lr=0.01"
        and label(params[2], names) == "optimizer=sgd, lr=-"
    )
    # ambiguous short names keep their group
    assert short_names(["optimizer.lr", "scheduler.lr", "model.depth"]) == {
        "optimizer.lr": "optimizer.lr",
        "scheduler.lr": "scheduler.lr",
        "model.depth": "depth",
    }
    assert short_names(["lr", "optimizer.lr"]) == {"lr": "lr", "optimizer.lr": "optimizer.lr"}
    assert (
        label(
            {"optimizer.lr": "0.9572640583964614", "model.width": "123456"},
            {"optimizer.lr": "lr", "model.width": "width"},
        )
        == "lr=0.9573, width=123456"
    )  # floats to 4 significant digits
    assert [short_value(v) for v in ("1e-3", "1.0", "0.000534564", "adam", "resnet.v2")] == [
        "1e-3",
        "1.0",
        "0.0005346",
        "adam",
        "resnet.v2",
    ]


def test_a_key_a_configuration_does_not_set_shows_the_value_its_runs_used(tmp_path):
    config = {"trainer": {"seed": 0}, "optimizer": {"lr": 0.001}}
    fake_run(tmp_path / "0", ["optimizer=adam"], completed(0.9), config=config)
    fake_run(tmp_path / "1", ["optimizer=adam", "optimizer.lr=0.01"], completed(0.8), config=config)
    configs, names = group(read_runs(tmp_path))
    assert names == {"optimizer.lr": "lr"} and [c.label for c in configs] == ["lr=0.001", "lr=0.01"]


def test_ranking_puts_configurations_without_a_value_last(tmp_path):
    fake_run(tmp_path / "0", ["norm=none"], {"status": "diverged", "val_acc": None})
    fake_run(tmp_path / "1", ["norm=batch"], completed(0.7))
    fake_run(tmp_path / "2", ["norm=layer"], completed(0.9))
    configs, _ = group(read_runs(tmp_path))
    order = ranked(configs, "val_acc")
    assert [c.label for c, _ in order] == ["norm=layer", "norm=batch", "norm=none"]
    assert [s.shown_rank for _, s in order] == ["1", "2", "-"]
    assert [c.label for c, _ in ranked(configs, "val_acc", maximize=False)][:2] == [
        "norm=batch",
        "norm=layer",
    ]


def seeds(folder: Path, name: str, values: list[float], **metrics) -> None:
    """One run per seed of configuration optimizer=name, with these val_acc values."""
    for seed, acc in enumerate(values):
        fake_run(
            folder / f"{name}{seed}", [f"optimizer={name}", f"trainer.seed={seed}"], completed(acc, **metrics)
        )


def test_configurations_indistinguishable_from_the_best_are_ties(tmp_path):
    seeds(tmp_path, "sgd", [0.961, 0.90, 0.905, 0.91, 0.90])  # the luckiest single run, a worse mean
    seeds(tmp_path, "momentum", [0.96, 0.955, 0.958, 0.957, 0.956])
    seeds(tmp_path, "adam", [0.957, 0.956, 0.957, 0.958, 0.955])
    write_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "| rank | optimizer | val_acc | vs best |" in md  # the column it ranks by, by its name
    rows = [line for line in md.splitlines() if line.startswith("| ") and "optimizer" not in line]
    assert [r.split(" | ")[:2] for r in rows[1:4]] == [["| 1", "momentum"], ["| =1", "adam"], ["| 3", "sgd"]]
    assert "paired over 5 seeds" in rows[2] and "(higher is better)" in md
    assert "1 indistinguishable from the best (optimizer=momentum): optimizer=adam" in md


def test_a_loss_ranks_lowest_first_and_a_metric_without_direction_needs_one(tmp_path, capsys):
    fake_run(tmp_path / "0", ["optimizer=adam"], completed(0.9, train_loss=0.5, weight_norm=3.0))
    fake_run(tmp_path / "1", ["optimizer=sgd"], completed(0.8, train_loss=0.2, weight_norm=2.0))
    main([str(tmp_path), "--metric", "train_loss"])
    md = (tmp_path / "report.md").read_text()
    assert "| rank | optimizer | train_loss | vs best |" in md and "(lower is better)" in md
    assert md.index("| 1 | sgd | 0.200 |") < md.index("| 2 | adam | 0.500 |")
    assert "too few for an interval or a comparison: sweep 3 or more (trainer.seed=0,1,2)" in md
    with pytest.raises(UserError, match="--direction=nothing: weight_norm has no direction of its own"):
        write_report(tmp_path, metric="weight_norm")
    main([str(tmp_path), "--metric", "weight_norm", "--direction", "maximize"])
    assert "| 1 | adam | 3.000 |" in (tmp_path / "report.md").read_text()


def test_repeated_seeds_count_once_and_deterministic_seeds_are_said_to_be(tmp_path):
    for run in range(3):  # the same configuration and seed, run three times
        fake_run(tmp_path / "same" / str(run), ["optimizer=adam", "trainer.seed=0"], completed(0.9))
    seeds(tmp_path / "seeds", "sgd", [0.8, 0.8, 0.8])  # three seeds, one result
    write_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "| =1 | adam | 0.900 |" not in md and "3 completed (1 distinct seed)" in md
    assert "| 2 | sgd | 0.800 (identical over 3 seeds) |" in md
    assert "the runs are deterministic duplicates" in md


def test_figures_of_accuracies_stay_inside_zero_to_one(tmp_path):
    seeds(tmp_path, "adam", [0.999, 0.95, 0.99])
    seeds(tmp_path, "sgd", [0.995, 0.90])  # two seeds: no interval, not a bar to 1.2
    configs, _ = group(read_runs(tmp_path))
    final = figures.final(configs)
    gap = figures.gap(configs)
    assert final is not None and gap is not None
    (ax,) = final.axes
    assert ax.get_xlim()[0] >= 0.0 and ax.get_xlim()[1] <= 1.0
    for line in ax.lines + [seg for c in ax.collections for seg in c.get_segments()]:  # bars' ends
        data = line.get_xdata() if hasattr(line, "get_xdata") else np.asarray(line)[:, 0]
        assert np.all((np.asarray(data) >= 0.0) & (np.asarray(data) <= 1.0))
    ax = gap.axes[0]
    assert ax.get_xlim()[1] <= 1.0 and ax.get_ylim()[1] <= 1.0


# ---------------------------------------------------------------------------- the report


def test_sweep_with_failed_and_diverged_runs_renders_them_marked(tmp_path):
    realistic_sweep(tmp_path, epochs=5)
    html_path = write_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert html_path == tmp_path / "report.html"
    assert md.count("\n| rank | optimizer | lr | val_acc |") == 1  # only the swept keys, short names
    assert "seed" not in md.split("## Results")[1].split("\n")[2]
    adam_lr1 = next(line for line in md.splitlines() if line.startswith("| - | adam | 1.0 |"))
    assert "3 diverged" in adam_lr1 and "| - |" in adam_lr1  # all diverged: still a row, no value, last
    assert md.split("## Results")[1].split("\n\n")[1].splitlines()[-1] == adam_lr1
    sgd_lr1 = next(line for line in md.splitlines() if "| sgd | 1.0 |" in line)
    assert "2 completed, 1 diverged" in sgd_lr1 and "0.905 (n=2: too few for a CI)" in sgd_lr1
    assert "`1`: failed (optimizer=sgd, lr=0.0001, seed 1): RuntimeError: CUDA out of memory" in md
    assert md.count("`: diverged") == 4
    assert "```\nnetopt-train -m optimizer=sgd,adam optimizer.lr=0.0001,0.001,0.01,0.1,1.0 " in md
    for name in ("curves.png", "final.png", "sensitivity.png", "gap.png"):
        assert (tmp_path / name).stat().st_size > 10_000 and f"]({name})" in md
    rows = list(csv.DictReader((tmp_path / "runs.csv").open()))
    assert len(rows) == 30 and sum(r["status"] == "failed" for r in rows) == 1
    assert sum(r["status"] == "diverged" for r in rows) == 4


def test_table_rows_are_mean_and_ci_of_completed_runs(tmp_path):
    accs = [0.91, 0.93, 0.88]
    for seed, acc in enumerate(accs):
        fake_run(tmp_path / f"a{seed}", ["optimizer=adam", f"trainer.seed={seed}"], completed(acc))
    fake_run(tmp_path / "a3", ["optimizer=adam", "trainer.seed=3"], {"status": "failed", "error": "boom"})
    fake_run(tmp_path / "s0", ["optimizer=sgd"], completed(0.5, epochs=2, wall_time_s=90.0))
    write_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    header = (
        "| rank | optimizer | val_acc | vs best | test acc | train acc | best epoch | epochs | time/run |"
    )
    assert header + " runs |" in md
    est = mean_ci(accs, bounds=(0.0, 1.0))
    assert f"| 1 | adam | {est.mean:.3f} [{est.low:.3f}, {est.high:.3f}] | best |" in md
    assert "| 3 | 3 | 4.5 s | 3 completed, 1 failed |" in md
    assert (
        "| sgd | 0.500 | -0.407 (too few seeds to compare) | 0.490 | 0.550 | 2 | 2 | 1.5 min | 1 completed |"
        in md
    )
    assert md.index("| adam |") < md.index("| sgd |")  # best first


def test_runs_csv_has_every_numeric_metric_including_new_keys(tmp_path):
    fake_run(tmp_path / "0", ["optimizer=adam"], completed(0.9, sharpness=12.5))
    fake_run(tmp_path / "1", ["optimizer=sgd"], {"status": "failed", "error": "boom"})
    write_report(tmp_path)
    rows = list(csv.DictReader((tmp_path / "runs.csv").open()))
    assert list(rows[0])[:5] == ["optimizer", "seed", "status", "run_dir", "error"]
    assert rows[0]["sharpness"] == "12.5" and rows[0]["test_acc"] == str(0.9 - 0.01)
    assert (rows[1]["status"], rows[1]["error"], rows[1]["sharpness"]) == ("failed", "boom", "")
    assert set(completed(0.9)) - {"status"} <= set(rows[0])


def test_report_html_embeds_every_figure_and_loads_nothing(tmp_path):
    realistic_sweep(tmp_path, epochs=4)
    page = (write_report(tmp_path)).read_text()
    pngs = sorted(tmp_path.glob("*.png"))
    assert len(pngs) == 4
    embedded = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert sorted(base64.b64decode(e) for e in embedded) == sorted(p.read_bytes() for p in pngs)
    assert not re.search(r"(src|href)=['\"](?!data:)", page) and "@import" not in page
    assert "<td class='bad'>3 diverged</td>" in page


def test_a_folder_of_runs_without_curves_or_multirun_yaml(tmp_path):
    fake_run(tmp_path / "r1", ["optimizer=adam"], completed(0.9))
    fake_run(tmp_path / "r2", ["optimizer=sgd"], completed(0.8))
    write_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "netopt-train -m" not in md and not (tmp_path / "curves.png").exists()
    assert (tmp_path / "final.png").exists() and (tmp_path / "gap.png").exists()


def test_per_step_series_through_tensorboards_reader(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(tmp_path)
    for step in range(5):
        writer.add_scalar("train/batch_loss", 1.0 / (step + 1), step)
    writer.close()
    steps, values = step_series(tmp_path, "train/batch_loss")
    np.testing.assert_array_equal(steps, np.arange(5))
    np.testing.assert_allclose(values, 1.0 / np.arange(1, 6), rtol=1e-6)
    with pytest.raises(UserError, match="no scalar 'val/acc'.*train/batch_loss"):
        step_series(tmp_path, "val/acc")


# ---------------------------------------------------------------------------- claims


def claim(**fields) -> Claim:
    base = {"statement": "s", "metric": "test_acc", "left": {"norm": "batch"}, "op": ">"}
    return Claim.parse(base | fields, "claims[0]")


#: Five seeds: batch norm at lr 1.0 and no normalization at lr 0.1 (val_acc; test_acc is 0.01 lower).
BATCH = (0.90, 0.93, 0.91, 0.94, 0.92)
NONE = (0.70, 0.72, 0.74, 0.76, 0.78)


@pytest.fixture
def norm_runs(tmp_path):
    """norm=batch at lr 1.0: BATCH; norm=none at lr 1.0: every seed diverged; norm=none at lr 0.1: NONE."""
    for seed, (b, n) in enumerate(zip(BATCH, NONE, strict=True)):
        fake_run(
            tmp_path / f"b{seed}", ["norm=batch", "optimizer.lr=1.0", f"trainer.seed={seed}"], completed(b)
        )
        fake_run(
            tmp_path / f"n{seed}",
            ["norm=none", "optimizer.lr=1.0", f"trainer.seed={seed}"],
            {"status": "diverged", "test_acc": None, "val_acc": 0.3},
        )
        fake_run(
            tmp_path / f"s{seed}", ["norm=none", "optimizer.lr=0.1", f"trainer.seed={seed}"], completed(n)
        )
    return tmp_path


def paired_interval(left, right) -> tuple[float, float, float]:
    d = np.subtract(left, right)
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    return d.mean(), low, high


def test_a_claim_holds_only_when_its_whole_interval_is_on_the_claimed_side(norm_runs):
    """The effect is the paired difference by seed with its t-interval [0.146, 0.214]: above a margin of
    0.1 it holds, across 0.18 it is inconclusive, below 0.25 it does not hold; < mirrors >."""
    runs = read_runs(norm_runs)
    none_lr01 = {"norm": "none", "optimizer.lr": 0.1}
    held = judge(claim(right=none_lr01, margin=0.1), runs)
    mean, low, high = paired_interval(BATCH, NONE)
    assert held.verdict == "holds" and (held.left.n, held.right.n) == (5, 5)
    assert (held.effect.mean, held.effect.low, held.effect.high) == pytest.approx((mean, low, high))
    assert held.effect.method == "paired over 5 seeds" and held.effect.n == 5
    assert held.left.value == pytest.approx(0.91) and held.right.value == pytest.approx(0.73)
    assert judge(claim(right=none_lr01, margin=0.18), runs).verdict == "inconclusive"  # 0.146 < 0.18 < 0.214
    assert judge(claim(right=none_lr01, margin=0.25), runs).verdict == "does not hold"  # 0.214 < 0.25
    none_lr01_text = {"norm": "none", "optimizer.lr": "1e-1"}  # numbers compare as numbers
    below = judge(claim(left=none_lr01_text, op="<", right={"norm": "batch"}, margin=0.1), runs)
    assert below.verdict == "holds" and below.effect.high == pytest.approx(-low)  # -0.146 < -0.1
    assert judge(claim(left=none_lr01, op="<=", right={"norm": "batch"}, margin=0.25), runs).verdict == (
        "does not hold"  # -0.214 > -0.25
    )
    nothing = judge(claim(right={"norm": "group"}), runs)
    assert nothing.verdict == "undecided" and nothing.reason == "right: selects no run"
    diverged = judge(claim(right={"norm": "none", "optimizer.lr": 1.0}), runs)
    assert (
        diverged.verdict == "undecided" and "5 runs (5 diverged) have no finite test_acc" in diverged.reason
    )


def test_against_a_number_the_interval_is_the_means_on_the_metrics_scale(norm_runs):
    runs = read_runs(norm_runs)
    interval = mean_ci([b - 0.01 for b in BATCH], (0.0, 1.0))
    above = judge(claim(right=0.85, op=">="), runs)
    assert above.verdict == "holds" and above.effect.low == pytest.approx(interval.low - 0.85)
    assert above.effect.method == "95% interval of the mean, n=5"
    assert judge(claim(right=0.91, op=">"), runs).verdict == "inconclusive"
    assert judge(claim(right=0.95, op=">"), runs).verdict == "does not hold"
    assert judge(claim(right=0.95, op="<"), runs).verdict == "holds"


def test_too_few_seeds_are_inconclusive_and_identical_seeds_are_exact(norm_runs):
    runs = read_runs(norm_runs)
    two = judge(claim(left={"norm": "batch", "trainer.seed": 0}, right={"norm": "none", "seed": 0}), runs)
    assert two.verdict == "inconclusive" and "too few seeds for an interval" in two.reason
    every = judge(
        claim(metric="diverged", left={"norm": "none", "optimizer.lr": 1.0}, op=">=", right=1.0), runs
    )
    assert every.verdict == "holds" and every.effect.method == "exact: identical over 5 seeds"
    none = judge(claim(metric="diverged", left={"norm": "batch"}, op="<=", right=0.0), runs)
    assert none.verdict == "holds" and none.effect.mean == 0.0
    assert judge(claim(metric="diverged", left={"norm": "batch"}, op=">", right=0.0), runs).verdict == (
        "does not hold"
    )


def test_welch_when_the_sides_share_no_seeds(norm_runs):
    for seed, acc in enumerate((0.60, 0.65, 0.62, 0.68), start=10):
        fake_run(norm_runs / f"g{seed}", ["norm=group", f"trainer.seed={seed}"], completed(acc))
    welch = judge(claim(right={"norm": "group"}, margin=0.2), read_runs(norm_runs))
    a, b = np.subtract(BATCH, 0.01), np.subtract((0.60, 0.65, 0.62, 0.68), 0.01)
    expected = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert welch.effect.method == "Welch, n=5 and 4" and welch.verdict == "holds"
    assert (welch.effect.low, welch.effect.high) == pytest.approx((expected.low, expected.high))


def test_a_claim_by_construction_is_shown_not_counted_unless_its_numbers_disagree(norm_runs):
    runs = read_runs(norm_runs)
    identity = "every seed of lr 1.0 diverges in this fixture"
    shown = judge(
        claim(
            metric="diverged",
            left={"optimizer.lr": 1.0, "norm": "none"},
            op=">=",
            right=1.0,
            by_construction=identity,
        ),
        runs,
    )
    assert shown.verdict == "by construction" and shown.reason.endswith(f"Cannot fail: {identity}")
    wrong = judge(claim(right=0.99, by_construction="a broken identity"), runs)
    assert wrong.verdict == "does not hold"
    verdicts = [shown, wrong, judge(claim(right=0.5), runs), judge(claim(right=0.91), runs)]
    assert counts(verdicts) == "1 holds, 1 does not hold, 1 inconclusive, 1 by construction"
    assert counts(verdicts[2:3] * 2) == "2 hold"


def test_a_caveat_is_shown_only_when_the_claim_does_not_hold(norm_runs):
    runs = read_runs(norm_runs)
    none_lr01 = {"norm": "none", "optimizer.lr": 0.1}
    held = judge(claim(right=none_lr01, margin=0.1, caveat="too few epochs"), runs)
    assert held.verdict == "holds" and "too few epochs" not in held.reason
    for margin in (0.18, 0.25):  # inconclusive, does not hold
        failed = judge(claim(right=none_lr01, margin=margin, caveat="too few epochs"), runs)
        assert failed.verdict != "holds" and failed.reason.endswith(". At this scale: too few epochs")


def test_a_diverged_run_can_count_as_chance_and_reduce_is_per_seed(norm_runs):
    runs = read_runs(norm_runs)
    at_lr1 = {"norm": "none", "optimizer.lr": 1.0}
    chance = judge(claim(right=at_lr1, margin=0.5, diverged_as=0.1), runs)
    assert chance.verdict == "holds" and chance.right.value == pytest.approx(0.1) and chance.right.n == 5
    worst = judge(claim(reduce="min", left={"norm": "none"}, right=0.1, op=">=", diverged_as=0.1), runs)
    assert worst.left.value == pytest.approx(0.1) and worst.left.runs == 10 and worst.left.n == 5
    assert worst.verdict == "holds" and worst.effect.method == "exact: identical over 5 seeds"
    best = judge(claim(reduce="max", left={"norm": "none"}, right=0.5, diverged_as=0.1), runs)
    assert best.left.value == pytest.approx(np.mean(NONE) - 0.01)


def test_a_claim_on_an_epoch_of_epochs_csv(tmp_path):
    for seed in range(3):
        rows = [
            dict(
                epoch=e, step=10 * e, train_loss_running=(1.0 + 0.1 * seed) / e, train_acc_running=0.5, lr=0.1
            )
            for e in (1, 2, 3)
        ]
        fake_run(
            tmp_path / f"a{seed}", ["trainer.batch_size=16", f"trainer.seed={seed}"], completed(0.9), rows
        )
        slow = [dict(row, train_loss_running=(2.0 + 0.3 * seed) / row["epoch"]) for row in rows]
        fake_run(
            tmp_path / f"b{seed}", ["trainer.batch_size=256", f"trainer.seed={seed}"], completed(0.9), slow
        )
    runs = read_runs(tmp_path)
    first = claim(
        metric="train_loss_running@1",
        left={"trainer.batch_size": 16},
        op="<",
        right={"trainer.batch_size": 256},
    )
    assert judge(first, runs).verdict == "holds" and judge(first, runs).left.value == pytest.approx(1.1)
    assert judge(claim(metric="train_loss_running@9", op="<", right=1.0), runs).verdict == "undecided"


def test_a_folder_from_before_the_running_values_were_named_apart_is_read_as_running(tmp_path):
    """Its epochs.csv's train_loss/train_acc and its metrics.json's train_loss were the running ones;
    its train_acc was the evaluation pass already."""
    old = tmp_path / "old"
    old.mkdir()
    (old / "metrics.json").write_text(
        json.dumps({"status": "completed", "train_loss": 0.5, "train_acc": 0.9})
    )
    (old / "epochs.csv").write_text(
        "epoch,step,train_loss,train_acc,val_loss,val_acc\n1,10,0.5,0.8,0.6,0.85\n"
    )
    (record,) = read_runs(tmp_path)
    assert record.metrics == {"status": "completed", "train_loss_running": 0.5, "train_acc": 0.9}
    assert (record.number("train_loss_running@1"), record.number("train_acc_running@1")) == (0.5, 0.8)
    assert math.isnan(record.number("train_loss")) and "train_loss" not in record.epochs


def test_claims_from_multirun_yaml_go_into_the_report_and_claims_json(norm_runs):
    claims = [
        {
            "statement": "BN beats no norm",
            "metric": "test_acc",
            "left": {"norm": "batch"},
            "op": ">",
            "right": {"norm": "none", "optimizer.lr": 0.1},
            "margin": 0.1,
        },
        {
            "statement": "No norm trains at lr 1",
            "metric": "test_acc",
            "left": {"norm": "none", "optimizer.lr": 1.0},
            "op": ">",
            "right": 0.5,
        },
    ]
    multirun = {
        "hydra": {"overrides": {"task": ["norm=batch,none"]}, "callbacks": {"summary": {"claims": claims}}}
    }
    (norm_runs / "multirun.yaml").write_text(yaml.safe_dump(multirun))
    write_report(norm_runs)
    saved = json.loads((norm_runs / "claims.json").read_text())
    assert [c["verdict"] for c in saved] == ["holds", "undecided"]
    assert saved[0]["left"] == {
        "select": {"norm": "batch"},
        "value": pytest.approx(0.91),
        "n": 5,
        "runs": 5,
        "why": None,
    }
    mean, low, high = paired_interval(BATCH, NONE)
    assert saved[0]["effect"] == {
        "mean": pytest.approx(mean),
        "low": pytest.approx(low),
        "high": pytest.approx(high),
        "n": 5,
        "method": "paired over 5 seeds",
    }
    assert saved[1]["left"]["value"] is None and saved[1]["right"] == {"value": 0.5}
    md = (norm_runs / "report.md").read_text()
    effect = f"+{mean:.4f} [+{low:.4f}, +{high:.4f}] (paired over 5 seeds)"
    assert f"| BN beats no norm | **holds** | {effect} | test_acc, left - right: {effect}; " in md
    assert "left 0.9100 (n=5), right 0.7300 (n=5); claimed > +0.1000 |" in md
    assert "| No norm trains at lr 1 | **undecided** | - |" in md
    assert "1 holds, 1 undecided. The effect is left - right with its 95% interval" in md
    assert (norm_runs / "claims.png").stat().st_size > 5_000 and "](claims.png)" in md  # the evidence
    # claims passed to the API win over multirun.yaml
    write_report(norm_runs, claims=claims[:1])
    assert len(json.loads((norm_runs / "claims.json").read_text())) == 1


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"op": "!="}, r"claims\[0\].op=!=: must be one of >, >=, <, <="),
        ({"reduce": "median"}, r"claims\[0\].reduce=median: must be one of mean"),
        ({"right": "high"}, r"claims\[0\].right='high': must be a selector mapping or a number"),
        ({"colour": 1}, r"claims\[0\]: unknown keys \['colour'\]"),
    ],
)
def test_malformed_claims_are_one_line_errors(bad, message):
    with pytest.raises(UserError, match=message):
        claim(**({"right": 0.5} | bad))


# ---------------------------------------------------------------------------- command line and callback


def test_cli_exits_2_with_one_line_on_a_folder_without_runs(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path / "empty")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert (
        err
        == f"netopt-report: error: {tmp_path / 'empty'}: no runs below it (no metrics.json at any depth)\n"
    )


def test_cli_writes_the_report(tmp_path, capsys):
    fake_run(tmp_path / "0", ["optimizer=adam"], completed(0.9))
    main([str(tmp_path), "--metric", "test_acc"])
    assert f"report: {tmp_path / 'report.html'}" in capsys.readouterr().out
    assert "ranked by mean test_acc" in (tmp_path / "report.md").read_text()


def test_summary_callback_writes_the_report_and_never_fails_the_sweep(tmp_path, capsys, caplog):
    from hydra_plugins.netopt_sweepers.callback import SummaryCallback

    for seed, acc in enumerate((0.9, 0.92, 0.91)):
        fake_run(tmp_path / "sweep" / f"{seed}", ["optimizer=adam", f"trainer.seed={seed}"], completed(acc))
    claims = OmegaConf.create(
        [{"statement": "good", "metric": "test_acc", "left": {"optimizer": "adam"}, "op": ">", "right": 0.5}]
    )
    callback = SummaryCallback(claims=claims)
    callback.on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "sweep")}}}))
    out = capsys.readouterr().out
    assert f"report: {tmp_path / 'sweep' / 'report.html'}" in out
    assert "claims: 1 holds\n" in out and "holds: good | test_acc +0.4" in out  # the verdicts, printed
    assert json.loads((tmp_path / "sweep" / "claims.json").read_text())[0]["verdict"] == "holds"
    (tmp_path / "empty").mkdir()
    with caplog.at_level(logging.WARNING):
        callback.on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "empty")}}}))
    assert [r.getMessage() for r in caplog.records] == [
        f"no report: {tmp_path / 'empty'}: no runs below it (no metrics.json at any depth)"
    ]


@pytest.mark.slow
def test_a_hundred_runs_report_in_seconds(tmp_path):
    for job in range(100):
        overrides = [f"optimizer={('sgd', 'adam')[job % 2]}", f"optimizer.lr={10.0 ** -(job // 2 % 10)}"]
        fake_run(
            tmp_path / str(job),
            [*overrides, f"trainer.seed={job // 20}"],
            completed(0.5 + job / 400, 20),
            curve(0.5 + job / 400, 20, job),
        )
    start = time.perf_counter()
    write_report(tmp_path)
    assert time.perf_counter() - start < 30


def test_the_callbacks_report_ranks_by_the_sweeps_metric_in_its_direction(tmp_path):
    from hydra_plugins.netopt_sweepers.callback import SummaryCallback

    fake_run(tmp_path / "0", ["optimizer=adam"], completed(0.9, val_loss=0.5))
    fake_run(tmp_path / "1", ["optimizer=sgd"], completed(0.8, val_loss=0.2))
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    callback = SummaryCallback(metric="val/loss")
    callback.on_multirun_start(config)
    callback.on_multirun_end(config)
    md = (tmp_path / "report.md").read_text()
    assert "ranked by mean val_loss (lower is better)" in md and md.index("| sgd |") < md.index("| adam |")
    summary = {"metric": "val_loss", "direction": "minimize"}  # netopt-report reads the sweep's own
    (tmp_path / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"callbacks": {"summary": summary}}}))
    main([str(tmp_path)])
    assert "ranked by mean val_loss (lower is better)" in (tmp_path / "report.md").read_text()


def test_runs_without_accuracy_are_ranked_by_their_validation_loss(tmp_path):
    """An autoencoder's runs (netopt.tasks: reconstruction) have no accuracy: lowest val_loss first."""
    nan = {key: None for key in ("train_acc", "train_acc_running", "val_acc", "best_val_acc", "test_acc")}
    fake_run(tmp_path / "0", ["optimizer=adam"], completed(0.9, val_loss=0.5, best_val_loss=0.5, **nan))
    fake_run(tmp_path / "1", ["optimizer=sgd"], completed(0.8, val_loss=0.2, best_val_loss=0.2, **nan))
    write_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "ranked by mean val_loss (lower is better)" in md and md.index("| sgd |") < md.index("| adam |")


def test_the_series_a_preset_names_are_drawn_over_training(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    for norm in ("none", "batch"):
        for seed in range(2):
            run = fake_run(
                tmp_path / f"{norm}{seed}", [f"norm={norm}", f"trainer.seed={seed}"], completed(0.9)
            )
            with SummaryWriter(run) as writer:
                for step in range(5):
                    for layer in (1, 2):
                        writer.add_scalar(f"act_std/layer{layer}", (seed + 1) * layer / (step + 1), step)
                    writer.add_scalar("other/x", 1.0, step)
    multirun = {"hydra": {"overrides": {"task": []}, "callbacks": {"summary": {"series": ["act_std/*"]}}}}
    (tmp_path / "multirun.yaml").write_text(yaml.safe_dump(multirun))
    write_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert (tmp_path / "series_1.png").stat().st_size > 10_000
    assert "## act_std/* over training: mean over seeds, band from min to max" in md
    write_report(tmp_path, series=["nothing/*"])  # given series win; a pattern no run logged: no figure
    assert "over training" not in (tmp_path / "report.md").read_text()
    assert not (tmp_path / "series_1.png").exists()
