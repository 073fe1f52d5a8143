"""Evidence for netopt's sweepers.

(a) synthetic: Bayesian optimization vs random search on Branin (2-D) and Hartmann-6, through the
    same search strategies the sweepers use (no training): the median over seeds of the best value
    found after 30 evaluations (both are minimized; the global minima are 0.397887 and -3.32237).
(b) digits: Hyperband vs a grid over the same space with netopt-train: the best validation accuracy
    and the total epochs each spends (several minutes on a CPU, so only when asked for).

    python scripts/bench_hpo.py [--quick] [synthetic] [digits] [--seeds 10] [--evals 30] [--batch-size 3]
"""

import argparse
import csv
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from netopt.hpo import BayesSearch, RandomSearch, Record, SearchSpace, Uniform

HARTMANN_A = torch.tensor(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ],
    dtype=torch.float64,
)
HARTMANN_P = 1e-4 * torch.tensor(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ],
    dtype=torch.float64,
)
HARTMANN_ALPHA = torch.tensor([1.0, 1.2, 3.0, 3.2], dtype=torch.float64)


def branin(p: dict) -> float:
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def hartmann6(p: dict) -> float:
    x = torch.tensor([p[f"x{i}"] for i in range(6)], dtype=torch.float64)
    inner = (HARTMANN_A * (x - HARTMANN_P).pow(2)).sum(1)
    return float(-(HARTMANN_ALPHA * torch.exp(-inner)).sum())


PROBLEMS: dict[str, tuple[Callable[[dict], float], SearchSpace, float]] = {
    "branin": (branin, SearchSpace([Uniform("x1", -5.0, 10.0), Uniform("x2", 0.0, 15.0)]), 0.397887),
    "hartmann6": (hartmann6, SearchSpace([Uniform(f"x{i}", 0.0, 1.0) for i in range(6)]), -3.32237),
}


def minimize(search, objective: Callable[[dict], float]) -> float:
    """Run a strategy to the end on objective; the best value found."""
    records: list[Record] = []
    while jobs := search.ask(records):
        records += [
            Record(j.trial, j.params, status="completed", objective=objective(j.params)) for j in jobs
        ]
    return min(r.objective for r in records)


def synthetic(seeds: int, evals: int, batch_size: int) -> None:
    print(
        f"(a) best value after {evals} evaluations, median [quartiles] over {seeds} seeds (lower is better)"
    )
    for name, (objective, space, optimum) in PROBLEMS.items():
        results = {}
        for label, make in (
            ("random", lambda s, sp=space: RandomSearch(sp, evals, batch_size=evals, seed=s)),
            ("bayes", lambda s, sp=space: BayesSearch(sp, evals, batch_size, maximize=False, seed=s)),
        ):
            start = time.perf_counter()
            best = [minimize(make(seed), objective) for seed in range(seeds)]
            q1, median, q3 = statistics.quantiles(best, n=4)
            results[label] = median
            seconds = time.perf_counter() - start
            print(f"  {name:10s} {label:7s} {median:9.4f} [{q1:.4f}, {q3:.4f}]  {seconds:5.1f} s")
        gaps = {k: v - optimum for k, v in results.items()}
        verdict = "beats" if gaps["bayes"] < gaps["random"] else "does NOT beat"
        ratio = gaps["bayes"] / gaps["random"]
        print(f"  {name:10s} bayes {verdict} random: gap to the optimum {ratio:.3f} x random's")


ROOT = Path(__file__).resolve().parents[1]
LRS = (0.003, 0.01, 0.03, 0.1, 0.3)
WIDTHS = (32, 64, 128, 256, 512)
# a larger validation split than the default, so that 0.5% is more than one image
COMMON = ("optimizer=momentum", "trainer.progress=false", "dataset.val_fraction=0.3")
CALLBACK = "++hydra.callbacks.summary._target_=hydra_plugins.netopt_sweepers.callback.SummaryCallback"


def train_sweep(sweep_dir: Path, *args: str) -> tuple[float, int, float]:
    """netopt-train -m args into sweep_dir: best val_acc, total epochs trained, wall time."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    cmd = [sys.executable, "-m", "netopt.cli.train", "-m", f"hydra.sweep.dir={sweep_dir}", *COMMON, *args]
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    with (sweep_dir / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    best = max(float(r["objective"]) for r in rows if r["status"] == "completed")
    return best, sum(int(r["epochs"] or 0) for r in rows), seconds


def digits(max_epochs: int) -> None:
    """Hyperband vs the grid over the same 25 configurations (learning rate x width)."""
    print(f"(b) digits, momentum SGD, lr in {LRS} x width in {WIDTHS}, up to {max_epochs} epochs")
    lrs, widths = ",".join(map(str, LRS)), ",".join(map(str, WIDTHS))
    epochs = f"trainer.max_epochs={max_epochs}"
    with tempfile.TemporaryDirectory() as tmp:
        grid = train_sweep(
            Path(tmp, "grid"), f"optimizer.lr={lrs}", f"model.width={widths}", epochs, CALLBACK
        )
        hyperband = train_sweep(
            Path(tmp, "hyperband"),
            "hydra/sweeper=hyperband",
            f"hydra.sweeper.max_epochs={max_epochs}",
            f"optimizer.lr=choice({lrs})",
            f"model.width=choice({widths})",
        )
    for name, (best, total, seconds) in (("grid", grid), ("hyperband", hyperband)):
        print(f"  {name:9s} best val_acc {best:.4f}  epochs {total:4d}  {seconds:6.1f} s")
    gap, ratio = grid[0] - hyperband[0], hyperband[1] / grid[1]
    print(
        f"  hyperband: {gap:+.4f} below the grid's best (target <= 0.005), {ratio:.3f} of its epochs (<= 1/3)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--evals", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=3, help="bayes: proposals per round")
    parser.add_argument("parts", nargs="*", default=["synthetic"], help="synthetic (default), digits or both")
    parser.add_argument("--max-epochs", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="synthetic only: 3 seeds of 15 evaluations")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.evals, args.parts = 3, 15, ["synthetic"]
    if not set(args.parts) <= {"synthetic", "digits"}:
        parser.error(f"parts: choose from synthetic, digits; got {' '.join(args.parts)}")
    if "synthetic" in args.parts:
        synthetic(args.seeds, args.evals, args.batch_size)
    if "digits" in args.parts:
        digits(args.max_epochs)


if __name__ == "__main__":
    main()
