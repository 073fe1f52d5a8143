"""Running the benchmark's trials, resumably, and reading each one's time to target.

Every trial is a real run (:func:`netopt.run.runner.run`) in ``<out>/<workload>/<submission>/
seed<s>_trial<k>``. Run again into the same ``out``, a trial whose folder holds a finished run
(completed or diverged) is read, not redone, and an interrupted one continues from its checkpoint.
"""

import csv
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netopt.bench.scoring import time_to_target
from netopt.bench.suite import Trial, Workload
from netopt.composition import compose

FINISHED = ("completed", "diverged")


@dataclass(frozen=True)
class Result:
    """What a trial reached: its steps and time to the target (inf: missed), the best validation value
    within the budget, and the test metric at the end (beside the test target)."""

    trial: Trial
    status: str
    steps: float
    time: float
    best: float
    test: float

    def row(self) -> dict[str, Any]:
        t = self.trial
        return {
            "workload": t.workload,
            "submission": t.submission,
            "seed": t.seed,
            "trial": t.index,
            "params": json.dumps(t.params),
            "status": self.status,
            "steps_to_target": self.steps,
            "time_to_target": self.time,
            "best_val": self.best,
            "test": self.test,
        }


def run_trials(
    trials: Sequence[Trial],
    workloads: dict[str, Workload],
    out: Path,
    overrides: Sequence[str],
    budget_scale: float,
    jobs: int = 1,
    log: Callable[[str], None] = print,
) -> list[Result]:
    """Run the trials not finished in ``out``, ``jobs`` at a time (each its own process when more than
    one, through joblib), then read every trial's result, in order."""
    pending = [t for t in trials if _status(out / t.folder) not in FINISHED]
    log(f"{len(trials) - len(pending)} of {len(trials)} trials finished before; running {len(pending)}")
    common = ["trainer.progress=false", "trainer.num_threads=1", "trainer.resume=auto"]
    work = [
        (
            [*workloads[t.workload].overrides(budget_scale), *t.overrides(), *common, *overrides],
            out / t.folder,
        )
        for t in pending
    ]
    if jobs == 1:
        done: Iterable[Path] = (train(*args) for args in work)
    else:
        from joblib import Parallel, delayed

        done = Parallel(n_jobs=jobs, return_as="generator_unordered")(delayed(train)(*args) for args in work)
    for i, folder in enumerate(done, 1):
        log(f"[{i}/{len(pending)}] {folder.relative_to(out)}: {_status(folder)}")
    return [read(t, workloads[t.workload], out / t.folder) for t in trials]


def train(overrides: Sequence[str], folder: Path) -> Path:
    """One trial: the run of netopt-train's config with ``overrides`` in ``folder`` (resumed if begun)."""
    from netopt.run.runner import run

    run(compose(*overrides), folder)
    return folder


def read(trial: Trial, w: Workload, folder: Path) -> Result:
    """The result of the finished run in ``folder``: the curve of epochs.csv up to the workload's budget."""
    metrics = json.loads((folder / "metrics.json").read_text())
    with (folder / "epochs.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r.get(w.metric) not in (None, "")]
    steps = [float(r["step"]) for r in rows]
    values = [float(r[w.metric]) for r in rows]
    times = [float(r["wall_time_s"]) for r in rows]
    finite = [v for v in values if math.isfinite(v)]
    best = (max if w.maximize else min)(finite) if finite else math.nan
    test = metrics.get(w.test_metric)
    return Result(
        trial,
        metrics["status"],
        time_to_target(steps, values, w.target, w.maximize),
        time_to_target(times, values, w.target, w.maximize),
        best,
        math.nan if test is None else float(test),
    )


def _status(folder: Path) -> str | None:
    path = folder / "metrics.json"
    return json.loads(path.read_text()).get("status") if path.exists() else None


def write_csv(results: Sequence[Result], path: Path) -> None:
    """Every trial's row (:meth:`Result.row`) as CSV."""
    rows = [r.row() for r in results]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
