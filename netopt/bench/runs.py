"""Running the benchmark's trials, resumably, and reading each one's time to target.

Every trial is a real run (:func:`netopt.run.runner.run`) in ``<out>/<workload>/<submission>/
seed<s>_trial<k>``: in this process, in ``jobs`` processes of its own (joblib), or through a Hydra
launcher (joblib, SLURM, ...) as one ``netopt-train --multirun`` of the pending trials, listed in
``<out>/jobs.yaml`` for the sweeper ``hydra/sweeper=list`` (:mod:`hydra_plugins.netopt_sweepers.listed`).
Run again into the same ``out``, a trial whose folder holds a finished run (completed or diverged) is
read, not redone, and an interrupted one continues from its checkpoint.
"""

import csv
import json
import math
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netopt.bench.scoring import time_to_target
from netopt.bench.suite import Trial, Workload
from netopt.composition import compose
from netopt.errors import UserError

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
    launcher: Sequence[str] = (),
) -> list[Result]:
    """Run the trials not finished in ``out``, ``jobs`` at a time (each its own process when more than
    one, through joblib), or through the Hydra launcher of the overrides ``launcher`` (its name first:
    :func:`launch`), then read every trial's result, in order."""
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
    if launcher and work:
        launch(work, out, launcher, jobs)
        done: Iterable[Path] = (folder for _, folder in work)
    elif jobs == 1:
        done = (train(*args) for args in work)
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


def launch(work: Sequence[tuple[list[str], Path]], out: Path, launcher: Sequence[str], jobs: int) -> None:
    """The trials ``work`` (overrides, folder) as one ``netopt-train --multirun`` with
    ``hydra/launcher=<launcher[0]>`` and its settings ``launcher[1:]``, ``jobs`` at a time, in their
    folders under ``out`` (the sweep's folder); no sweep summary (the benchmark reports). The task is
    imported, not run as ``__main__``, so that joblib's workers import it rather than unpickle it."""
    from omegaconf import OmegaConf

    from netopt.hpo.summary import format_value

    listed = out / "jobs.yaml"
    OmegaConf.save([{"subdir": str(f.relative_to(out)), "overrides": list(o)} for o, f in work], listed)
    command = [
        *(sys.executable, "-c", "from netopt.cli.train import main; main()", "--multirun"),
        *("hydra/sweeper=list", f"hydra.sweeper.jobs={format_value(str(listed))}"),
        *(f"hydra.sweeper.workers={jobs}", f"hydra.sweep.dir={format_value(str(out))}"),
        *("~hydra.callbacks.summary", f"hydra/launcher={launcher[0]}", *launcher[1:]),
    ]
    code = subprocess.run(command, check=False).returncode
    if code:
        raise UserError(f"launcher={launcher[0]}: its multirun ended with exit status {code} (see above)")


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
