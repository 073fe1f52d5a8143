"""Every figure of the README and docs/ comes from a script; each script runs here at small size into
tmp_path and writes its figure (README's "Figures" lists which script makes which)."""

import importlib.util
import os
import re
import sys
import time
from pathlib import Path

import pytest
import yaml

from netopt.report import write_report
from tests.test_report import completed, curve, fake_run

ROOT = Path(__file__).parents[1]
#: Each figure in README and docs/ and the script that draws it.
FIGURES = {
    "docs/schedules.png": "scripts/plot_schedules.py",
    "docs/trajectories.png": "scripts/plot_trajectories.py",
    "docs/landscape_2d.png": "scripts/plot_landscape.py",
    "docs/experiments/*.png": "scripts/experiments_doc.py",
    "docs/scaling.png": "scripts/bench_scaling.py",
    "docs/record_ablation.png": "scripts/ablate_record.py",
    "docs/benchmark/*/*.png": "scripts/benchmark_doc.py",
}


def script(path: str):
    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_figure_of_readme_and_docs_has_its_script_named_in_readme():
    readme = (ROOT / "README.md").read_text()
    shown = set(re.findall(r"\]\((docs/[^)]+\.png)\)", readme))
    shown |= {
        f"docs/{p}" for p in re.findall(r"\]\(([^)]+\.png)\)", (ROOT / "docs/experiments.md").read_text())
    }
    on_disk = {str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.png")}
    for figure in shown | on_disk:
        pattern = next((f for f in FIGURES if Path(figure).match(f)), None)
        assert pattern is not None, f"{figure}: no script draws it"
        assert f"`{pattern}`: `{FIGURES[pattern]}`" in readme, (
            f"README does not say which script draws {pattern}"
        )


def test_schedules_figure(tmp_path):
    script("scripts/plot_schedules.py").main(["--out", str(tmp_path / "s.png"), "trainer.max_epochs=4"])
    assert (tmp_path / "s.png").stat().st_size > 10_000


def test_trajectories_figure_draws_what_the_tool_draws(tmp_path):
    script("scripts/plot_trajectories.py").main(["--out", str(tmp_path / "t.png"), "functions=[sphere]"])
    assert (tmp_path / "t.png").stat().st_size > 10_000


def test_scaling_figure_draws_the_three_panels(tmp_path):
    rows = [
        {"family": family, "params": p, "batch": b, "netopt": 1e-3 * p**0.5, "hand-written": 1e-3 * p**0.5}
        for family, p, b in (("mlp", 1e4, 64), ("mlp", 1e6, 64), ("cnn", 1e4, 64), ("cnn", 1e6, 64),
                             ("batch", 3e4, 16), ("batch", 3e4, 256))
    ]  # fmt: skip
    script("scripts/bench_scaling.py").draw(rows, {1: 20.0, 2: 12.0}, tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 10_000


def test_ablation_figure_draws_a_bar_per_row(tmp_path):
    times = {"record": {0: 10.0, 1: 11.0, 2: 12.0}, "- whitening": {0: 14.0, 1: float("inf"), 2: 15.0}}
    script("scripts/ablate_record.py").draw(times, 0.93, tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 10_000


@pytest.mark.slow
def test_landscape_figure(tmp_path):
    script("scripts/plot_landscape.py").main(["--out", str(tmp_path / "l.png"), "--small"])
    assert (tmp_path / "l.png").stat().st_size > 10_000


def test_experiments_page_lists_wall_times_and_copies_the_figures(tmp_path):
    sweep = tmp_path / "batch_size"
    (sweep / "multirun.yaml").parent.mkdir()
    (sweep / "multirun.yaml").write_text(
        yaml.safe_dump({"hydra": {"overrides": {"task": ["experiment=batch_size"]}}})
    )
    for seed in range(2):
        fake_run(sweep / str(seed), [f"trainer.seed={seed}"], completed(0.9), curve(0.9, 3, seed))
    write_report(sweep)
    end = time.time()
    for path in sweep.rglob("*"):  # the sweep ended now, whatever the time its report took to write
        os.utime(path, (end, end))
    os.utime(sweep / "multirun.yaml", (end - 90, end - 90))  # and began 90 s before
    os.utime(sweep / "report.md", (end + 600, end + 600))  # a report written again later does not count
    script("scripts/experiments_doc.py").main(
        [str(sweep), "--out", str(tmp_path / "docs" / "experiments.md")]
    )
    page = (tmp_path / "docs" / "experiments.md").read_text()
    assert "Wall time (its folder's first file to the last of its jobs): 1.5 min." in page
    assert "0.0 s" not in page and "Training time" not in page
    missing = page.split("no full run when the page was written: ")[1].split(".")[0].split(", ")
    assert "adaptive_lr" in missing and "batch_size" not in missing  # said, not hidden
    assert (tmp_path / "docs" / "experiments" / "batch_size.png").stat().st_size > 10_000
