"""The record preset taken apart: each idea removed in turn, its effect on the time to a test accuracy.

Every row is ``experiment=fashion_mnist_record`` with one idea taken out (as airbench's ablations
do), one adds the EMA of the weights (``averaging=ema``), and a last row is
``experiment=fashion_mnist_fast``, the preset without any of them. Each runs
through :func:`netopt.run.runner.run` with the per-epoch test accuracy of
``scripts/bench_time_to_accuracy.py`` (the weights after every epoch evaluated on the test set after
the run, off the clock); the rows take turns within each seed, so a slow phase of a shared machine
falls on all of them. Time to ``--target`` is the clock at the end of the first epoch reaching it;
``--clock cpu`` counts this process's CPU seconds instead of wall seconds (the work done on the one
thread, nearly independent of a shared machine's load).

Printed, per row: the mean time to the target over seeds with its 95% interval, how many seeds reached
it, the paired difference to the full preset (seconds, interval over the shared seeds:
:func:`netopt.report.stats.difference`), the mean final test accuracy with its interval
(:mod:`netopt.report.stats`) and its paired difference to the full preset's; last the ratio of the
full preset's mean time to the fast preset's. ``--resume`` reads the per-seed lines of earlier runs'
output and runs only the seeds and rows they lack, so seeds can be added to a finished ablation.
``--figure`` draws the times as bars with their intervals.

    python scripts/ablate_record.py [--seeds 5] [--target 0.93] [--quick] [--clock cpu]
        [--figure docs/record_ablation.png] [--resume <an earlier run's output>]
"""

import argparse
import math
import os
import re
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling script bench_time_to_accuracy
from bench_time_to_accuracy import CLOCKS, compose_preset, load_average, train_netopt, use_clock  # noqa: E402

from netopt.data.datasets import FashionMNIST  # noqa: E402
from netopt.report.stats import difference, mean_ci  # noqa: E402

RECORD, FAST = "fashion_mnist_record", "fashion_mnist_fast"
#: Each row: its name, its preset, the overrides that take one idea out of it.
ROWS: list[tuple[str, str, list[str]]] = [
    ("record (all ideas)", RECORD, []),
    ("- patch whitening", RECORD, ["model.whiten=false"]),
    ("- flip TTA", RECORD, ["model.flip_tta=false"]),
    ("- alternating flips (random)", RECORD, ["augmentation=flip"]),
    ("- Dirac init", RECORD, ["init=he_uniform"]),
    ("- norm lr x4, no wd", RECORD, ["trainer.norm_lr_scale=1", "trainer.norm_weight_decay=null"]),
    ("- label smoothing", RECORD, ["regularization=none"]),
    ("+ EMA of the weights", RECORD, ["averaging=ema"]),
    ("fast preset (none of them)", FAST, []),
]
QUICK = ["dataset.train_size=3000", "trainer.max_epochs=2", "trainer.eval_batch_size=2000"]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, help="seeds per row (default 5; quick 1)")
    parser.add_argument("--target", type=float, help="test accuracy to time (default 0.93; quick 0.75)")
    parser.add_argument("--quick", action="store_true", help="3,000 training images, 2 epochs: a smoke run")
    parser.add_argument("--root", default=os.environ.get("NETOPT_DATA", "./data"), help="dataset folder")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall", help="wall or CPU seconds")
    parser.add_argument("--figure", type=Path, help="draw the times into this PNG")
    parser.add_argument(
        "--resume",
        type=Path,
        action="append",
        default=[],
        help="an earlier run's output: its per-seed lines are kept, not run again (repeatable)",
    )
    parser.add_argument("overrides", nargs="*", help="overrides added to every row (KEY=VALUE)")
    args = parser.parse_args(argv)
    seeds = args.seeds or (1 if args.quick else 5)
    target = args.target or (0.75 if args.quick else 0.93)
    extra = [*(QUICK if args.quick else []), *args.overrides]
    torch.set_num_threads(1)
    use_clock(args.clock)
    FashionMNIST(root=args.root).load()  # unpack the files once, off every clock
    print(
        f"1 thread, {seeds} seed(s), target {target:.2%}, {args.clock} clock, load average {load_average()}"
    )
    times: dict[str, dict[int, float]] = {name: {} for name, _, _ in ROWS}
    finals: dict[str, dict[int, float]] = {name: {} for name, _, _ in ROWS}
    for path in args.resume:
        for seed, name, time, acc in earlier(path):
            if name in times and seed < seeds:
                times[name][seed], finals[name][seed] = time, acc
    for seed in range(seeds):
        for name, preset, overrides in ROWS:
            if seed not in times[name]:
                cfg = compose_preset(args.root, 1, [*overrides, *extra, f"trainer.seed={seed}"], preset)
                curve, metrics = train_netopt(cfg)
                times[name][seed], finals[name][seed] = curve.time_to(target), metrics["test_acc"]
            print(LINE.format(seed, name, times[name][seed], finals[name][seed]), flush=True)
    print(f"\nload average {load_average()}")
    head = f"{'s to target (95% CI)':>26s} {'reached':>8s} {'vs record s (95% CI)':>26s} {'test acc':>22s}"
    print(f"{'row':30s} {head} {'vs record acc (95% CI)':>28s}")
    full = {s: t for s, t in times[ROWS[0][0]].items() if math.isfinite(t)}
    for name, _, _ in ROWS:
        reached = {s: t for s, t in times[name].items() if math.isfinite(t)}
        time = mean_ci(reached.values())
        diff = difference(full, reached) if reached and full else None
        acc = mean_ci(finals[name].values(), bounds=(0.0, 1.0))
        versus = _ci(diff.mean, diff.low, diff.high, 1) if diff else "n/a"
        lost = difference(finals[ROWS[0][0]], finals[name])  # paired by seed, as the times
        print(
            f"{name:30s} {_ci(time.mean, time.low, time.high, 1):>26s} {len(reached):>4d}/{seeds:<3d} "
            f"{versus:>26s} {_ci(acc.mean, acc.low, acc.high, 4):>22s} "
            f"{_ci(lost.mean, lost.low, lost.high, 4):>28s}"
        )
    if args.figure:
        draw(times, target, args.figure)
    record, fast = (statistics.fmean(times[name].values()) for name in (ROWS[0][0], ROWS[-1][0]))
    ratio = record / fast if math.isfinite(record) and math.isfinite(fast) else math.nan
    print(f"ratio record/fast, mean time to {target:.2%}: {ratio:.3f}")


#: A row's result for one seed, as printed (and read back by ``--resume``).
LINE = "seed {} {}: {:.1f} s to target, test acc {:.4f}"


def earlier(path: Path) -> list[tuple[int, str, float, float]]:
    """(seed, row, seconds to the target, final test accuracy) of each per-seed line in ``path``."""
    pattern = re.compile(r"seed (\d+) (.+): ([\d.]+|inf) s to target, test acc ([\d.]+)$")
    found = (pattern.match(line.strip()) for line in path.read_text().splitlines())
    return [(int(m[1]), m[2], float(m[3]), float(m[4])) for m in found if m]


def _ci(mean: float, low: float, high: float, digits: int) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.{digits}f}" + (f" ({low:.{digits}f} to {high:.{digits}f})" if math.isfinite(low) else "")


def draw(times: dict[str, dict[int, float]], target: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(times)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.2))
    for i, name in enumerate(names):
        reached = [t for t in times[name].values() if math.isfinite(t)]
        est = mean_ci(reached)
        if reached:
            ax.barh(i, est.mean, color="tab:blue" if i else "tab:green")
            if est.has_interval:
                ax.errorbar(
                    est.mean, i, xerr=[[est.mean - est.low], [est.high - est.mean]], color="k", capsize=3
                )
            ax.plot(reached, [i] * len(reached), "k.", ms=4)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel(f"seconds to {target:.0%} test accuracy (1 thread; mean, 95% interval, seeds as dots)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
