"""Worker idle time and time to target: ASHA against synchronous Hyperband, with 2 workers.

The problem is the test task tests/hpo_app (the negated Branin function, better with more epochs),
whose epochs sleep ``seconds_per_epoch * (1 + x2 / 15)`` seconds, so trials differ in length as real
ones do; every search runs through joblib with hydra.launcher.n_jobs=2 over the same 17
configurations (Hyperband's brackets for max_epochs 9, eta 3; ASHA's first 17 draws are the same):

- hyperband: the sweeper as it is, in rounds (each round waits for its slowest job, a rung for its last);
- hyperband-async: the same strategy on the asynchronous pool (only a rung waits for its last job);
- asha: asynchronous successive halving.

Idle time is 1 - (sum of the jobs' own wall times) / (2 x the time from the first job's start to the
last one's end), and the same until the drain (the second-last job's end, after which one job runs
alone); time to target is when a job first reported a value at least the best that
synchronous Hyperband found (with the same seed), from the first job's start.

Printed last: ASHA's idle share and time to target over synchronous Hyperband's (means over seeds).

    python scripts/bench_async.py [--quick] [--seeds 3] [--seconds-per-epoch 0.5]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "tests" / "hpo_app" / "app.py"
SEARCHES = {
    "hyperband": ["hydra/sweeper=hyperband"],
    "hyperband-async": ["hydra/sweeper=hyperband", "hydra.sweeper.asynchronous=true"],
    "asha": ["hydra/sweeper=asha", "hydra.sweeper.n_trials=17"],
}


def run(folder: Path, seed: int, seconds: float, search: list[str]) -> list[dict]:
    """The finished jobs of one sweep (the journal's outcome lines)."""
    command = [sys.executable, str(APP), "-m", f"hydra.sweep.dir={folder}", *search]
    command += ["hydra.sweeper.max_epochs=9", "hydra.sweeper.eta=3", f"hydra.sweeper.seed={seed}"]
    command += ["x1=interval(-5,10)", "x2=interval(0,15)", f"seconds_per_epoch={seconds}"]
    command += ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    subprocess.run(command, env=env, cwd=folder.parent, check=True, capture_output=True)
    lines = [json.loads(line) for line in (folder / "journal.jsonl").read_text().splitlines()]
    return [line for line in lines if line["status"] == "completed"]


def measure(jobs: list[dict], target: float) -> dict[str, float]:
    """Idle fraction (over the whole sweep, and until the drain: up to the second-last job's end,
    after which one job runs alone whatever the strategy), time to target, wall time, and the
    median launch gap of one sweep: from the end of the job that freed a worker to the start of the
    task next on it (Hydra composing the job's config, the pool's hand-over), idle time that no search
    strategy removes."""
    spans = sorted(
        (j["metrics"]["finished_at"] - j["wall_time_s"], j["metrics"]["finished_at"]) for j in jobs
    )
    starts, ends = [a for a, _ in spans], sorted(b for _, b in spans)
    first, drain = starts[0], ends[-2]
    busy = sum(b - a for a, b in spans)
    busy_until_drain = sum(max(0.0, min(b, drain) - a) for a, b in spans)
    reached = min(j["metrics"]["finished_at"] for j in jobs if j["objective"] >= target)
    gaps = [s - max(e for e in ends if e <= s) for s in starts[2:] if any(e <= s for e in ends)]
    return {
        "idle": 1 - busy / (2 * (ends[-1] - first)),
        "idle until drain": 1 - busy_until_drain / (2 * (drain - first)),
        "to target": reached - first,
        "wall": ends[-1] - first,
        "launch gap": statistics.median(gaps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, help="default 3; quick 1")
    parser.add_argument("--seconds-per-epoch", type=float, default=0.5)
    parser.add_argument("--quick", action="store_true", help="one seed")
    args = parser.parse_args()
    seeds = args.seeds or (1 if args.quick else 3)
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in SEARCHES}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(seeds):
            jobs = {
                name: run(Path(tmp, f"{name}_{seed}"), seed, args.seconds_per_epoch, s)
                for name, s in SEARCHES.items()
            }
            target = max(j["objective"] for j in jobs["hyperband"])
            for name, found in jobs.items():
                rows[name].append(measure(found, target))
                print(f"seed {seed} {name:16s} {line(rows[name][-1])}", flush=True)
    print(f"\nmean over {seeds} seed(s), 2 workers, {args.seconds_per_epoch} s an epoch (x 1 to 2):")
    means = {
        name: {k: statistics.mean(v[k] for v in values) for k in values[0]} for name, values in rows.items()
    }
    for name, mean in means.items():
        print(f"  {name:16s} {line(mean)}")
    asha, hyperband = means["asha"], means["hyperband"]
    print(
        f"ratio asha / hyperband: idle {asha['idle'] / hyperband['idle']:.2f}, "
        f"time to Hyperband's best {asha['to target'] / hyperband['to target']:.2f}"
    )


def line(m: dict[str, float]) -> str:
    return (
        f"idle {m['idle']:6.1%} (until the drain {m['idle until drain']:6.1%})"
        f"  to target {m['to target']:6.1f} s  wall {m['wall']:6.1f} s  launch gap {m['launch gap']:4.1f} s"
    )


if __name__ == "__main__":
    main()
