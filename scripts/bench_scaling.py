"""How the cost grows: netopt's loop against the hand-written torch loop as the model and the batch grow,
a sweep's wall time against the number of parallel jobs, and the model FLOP utilization of the record
preset's training step.

1. Step time against parameter count (about 1e4 to 1e7): the digits MLP (depth 2, growing width) and
   the digits CNN (channels [c, 2c], growing c), batch 64, plain SGD at lr 0.01. netopt runs as
   ``netopt-train`` does (:func:`netopt.run.runner.run`); the hand-written loop is
   ``scripts/bench_train.py``'s :class:`Reference` (shuffle, forward, cross-entropy, zero_grad,
   backward, ``torch.optim.SGD``), one of its epochs after each of netopt's
   (:func:`bench_train.alternating`), so slow phases of a shared machine fall on both. Step time =
   batch size / training samples per second, best of ``--repeats``.
2. Step time against batch size (16 to 1024), the digits MLP of width 128.
3. A sweep's wall time against ``hydra.launcher.n_jobs`` (1, 2): ``netopt-train --multirun`` of four
   digits runs of the MLP of width 3072 (about 10 s of training each on one thread; two of two epochs
   with ``--quick``) through the joblib launcher, from the command's start to its end (the report
   included); parallel efficiency = T(1) / (n T(n)). With n_jobs=1 joblib runs the jobs in the
   command's process; with 2, two worker processes start (each importing torch), a cost the
   efficiency includes.
4. Model FLOP utilization of ``experiment=fashion_mnist_record``'s training step: the FLOPs of one
   forward and backward pass (torch's ``FlopCounterMode``) over the step time of netopt's loop on
   that preset, against the peak of a plain float32 matrix multiply (n = 512) on the same thread.

Printed: one row per workload (parameters, batch, step time of each, ratio netopt / hand-written of
samples per second), the sweep's times and efficiency, the MFU, and last the lowest ratio across the
range (the goal: at least 0.97). ``--figure`` draws the three panels on log-log axes.

    python scripts/bench_scaling.py [--quick] [--repeats 3] [--figure docs/scaling.png]
"""

import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize
from omegaconf import DictConfig
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling script bench_train
from bench_train import RUN_FOLDERS, Reference, alternating  # noqa: E402

from netopt import config  # noqa: E402
from netopt.components import make  # noqa: E402
from netopt.data.datasets import DEBIAN_FASHION_MNIST  # noqa: E402
from netopt.run.runner import run  # noqa: E402

RECORD = "experiment=fashion_mnist_record"
TRAIN = str(Path(sys.executable).with_name("netopt-train"))


@dataclass
class Workload:
    family: str  # mlp, cnn or batch
    overrides: list[str]
    epochs: int


def workloads(quick: bool) -> list[Workload]:
    """The models and batch sizes timed: the full range, or three points of each (``quick``)."""
    widths = [64, 256, 1024] if quick else [64, 256, 1024, 3072]
    channels = [8, 32] if quick else [8, 32, 128, 512]
    sizes = [16, 256] if quick else [16, 64, 256, 1024]
    epochs = 2 if quick else 4
    return [
        *(Workload("mlp", [f"model.width={w}"], epochs) for w in widths),
        *(Workload("cnn", ["model=cnn", f"model.channels=[{c},{2 * c}]"], epochs) for c in channels),
        *(Workload("batch", [f"trainer.batch_size={b}"], epochs + 2) for b in sizes),
    ]


def parameters(cfg: DictConfig) -> int:
    data = make(cfg, "dataset")
    model = make(cfg, "model", data.in_shape, data.num_classes, make(cfg, "norm"))
    return sum(p.numel() for p in model.parameters())


def time_workload(cfg: DictConfig, repeats: int) -> tuple[float, float]:
    """Best training samples per second of netopt and of the hand-written loop, alternating epochs."""
    ours, theirs = [], []
    for _ in range(repeats):
        reference = Reference(cfg, torch.device("cpu"))
        with tempfile.TemporaryDirectory(dir=RUN_FOLDERS) as tmp, alternating(reference):
            ours.append(run(copy.deepcopy(cfg), Path(tmp))["samples_per_s"])
        theirs.append(reference.samples_per_s())
    return max(ours), max(theirs)


def sweep_seconds(n_jobs: int, runs: int, epochs: int) -> float:
    """Wall time of ``netopt-train --multirun`` of ``runs`` runs of the digits MLP of width 3072 (seeds
    0, 1, ...), n_jobs at once."""
    with tempfile.TemporaryDirectory(dir=RUN_FOLDERS) as tmp:
        command = [
            TRAIN, "--multirun", "hydra/launcher=joblib", f"hydra.launcher.n_jobs={n_jobs}",
            f"trainer.seed={','.join(map(str, range(runs)))}", f"trainer.max_epochs={epochs}",
            "model.width=3072", "optimizer.lr=0.01", "trainer.num_threads=1",
            f"hydra.sweep.dir={tmp}/sweep",
        ]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=os.environ.copy())
        return time.perf_counter() - start


def matmul_peak(n: int = 512, seconds: float = 1.0) -> float:
    """FLOP/s of a float32 n x n matrix product on this thread, best of repeated timings."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * n**3 / (time.perf_counter() - start))
    return best


def step_flops(cfg: DictConfig) -> int:
    """FLOPs of one forward and backward pass of the preset's model on one batch (train mode)."""
    data = make(cfg, "dataset")
    model = make(cfg, "model", data.in_shape, data.num_classes, make(cfg, "norm")).train()
    x = torch.randn(cfg.trainer.batch_size, *data.in_shape)
    y = torch.randint(data.num_classes, (cfg.trainer.batch_size,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops()


def record_mfu(steps: int) -> tuple[float, float, float] | None:
    """(FLOPs per step, seconds per step, matmul peak FLOP/s) of the record preset on one thread;
    None without the Fashion-MNIST files."""
    if not DEBIAN_FASHION_MNIST.is_dir() and not os.environ.get("NETOPT_DATA"):
        return None
    cfg = compose(config.PRIMARY, overrides=[RECORD, "trainer.max_epochs=1", f"trainer.limit_batches={steps}",
                                             "trainer.progress=false", "trainer.num_threads=1"])  # fmt: skip
    with tempfile.TemporaryDirectory(dir=RUN_FOLDERS) as tmp:
        samples_per_s = run(copy.deepcopy(cfg), Path(tmp))["samples_per_s"]
    return step_flops(cfg), cfg.trainer.batch_size / samples_per_s, matmul_peak()


def draw(rows: list[dict], sweep: dict[int, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for family, marker in (("mlp", "o"), ("cnn", "s")):
        sel = [r for r in rows if r["family"] == family]
        for side, style in (("netopt", "-"), ("hand-written", "--")):
            axes[0].plot([r["params"] for r in sel], [r[side] * 1e3 for r in sel], style, marker=marker,
                         label=f"{family}, {side}")  # fmt: skip
    sel = [r for r in rows if r["family"] == "batch"]
    for side, style in (("netopt", "-"), ("hand-written", "--")):
        axes[1].plot([r["batch"] for r in sel], [r[side] * 1e3 for r in sel], style, marker="o", label=side)
    jobs = sorted(sweep)
    axes[2].plot(jobs, [sweep[j] for j in jobs], marker="o", label="measured")
    axes[2].plot(jobs, [sweep[1] / j for j in jobs], ":", label="ideal T(1)/n")
    titles = (
        "step time vs parameters (batch 64)",
        "step time vs batch size (MLP 128x2)",
        "a sweep's wall time",
    )
    labels = (("parameters", "ms per step"), ("batch size", "ms per step"), ("hydra.launcher.n_jobs", "s"))
    for ax, title, (xlabel, ylabel) in zip(axes, titles, labels, strict=True):
        ax.set(xscale="log", yscale="log", title=title, xlabel=xlabel, ylabel=ylabel)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.legend(fontsize=8)
    for ax in axes[1:]:  # less than a decade or two: the minor ticks labelled too
        ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    for ax, ticks in ((axes[1], [r["batch"] for r in sel]), (axes[2], jobs)):  # the measured points
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"figure: {path}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer points, one repeat, a short sweep")
    parser.add_argument("--repeats", type=int, help="alternating runs of each workload (default 3, quick 1)")
    parser.add_argument("--figure", type=Path, help="draw the panels into this PNG")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    torch.set_num_threads(1)
    config.register()
    print(f"1 thread, best of {repeats}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'workload':34s} {'params':>10s} {'batch':>6s} {'netopt ms':>10s} {'hand ms':>10s} {'ratio':>6s}")
    rows = []
    with initialize(version_base="1.3", config_path=None):
        for work in workloads(args.quick):
            # lr 0.01: the widest models diverge at SGD's 0.1, which would end netopt's run early
            common = ["trainer.device=cpu", "trainer.num_threads=1", "trainer.progress=false"]
            common.append("optimizer.lr=0.01")
            cfg = compose(
                config.PRIMARY, overrides=[*work.overrides, f"trainer.max_epochs={work.epochs}", *common]
            )
            ours, theirs = time_workload(cfg, repeats)
            batch = cfg.trainer.batch_size
            row = {"family": work.family, "params": parameters(cfg), "batch": batch, "ratio": ours / theirs}
            row |= {"netopt": batch / ours, "hand-written": batch / theirs}
            rows.append(row)
            name = f"{work.family} {' '.join(o.split('.')[-1] for o in work.overrides)}"
            print(f"{name:34s} {row['params']:10,d} {batch:6d} {row['netopt'] * 1e3:10.2f} "
                  f"{row['hand-written'] * 1e3:10.2f} {row['ratio']:6.3f}", flush=True)  # fmt: skip
        runs = 2 if args.quick else 4
        sweep = {n: sweep_seconds(n, runs, 2 if args.quick else 6) for n in (1, 2)}
        print(f"sweep of {runs} runs: n_jobs=1 {sweep[1]:.1f} s, n_jobs=2 {sweep[2]:.1f} s, "
              f"parallel efficiency {sweep[1] / (2 * sweep[2]):.2f}")  # fmt: skip
        mfu = record_mfu(10 if args.quick else 40)
    if mfu is None:
        print("MFU: no Fashion-MNIST files here (Debian package dataset-fashion-mnist or NETOPT_DATA)")
    else:
        flops, step, peak = mfu
        rate = flops / step
        print(
            f"MFU of {RECORD}'s training step: {flops / 1e9:.3f} GFLOP in {step * 1e3:.1f} ms = "
            f"{rate / 1e9:.2f} GFLOP/s; matmul peak {peak / 1e9:.2f} GFLOP/s; MFU {rate / peak:.1%}"
        )
    if args.figure:
        draw(rows, sweep, args.figure)
    lowest = min(rows, key=lambda r: r["ratio"])
    where = f"{lowest['family']}, {lowest['params']:,d} parameters, batch {lowest['batch']}; goal >= 0.97"
    print(f"ratio netopt/hand-written (samples/s), lowest of {len(rows)}: {lowest['ratio']:.3f} ({where})")


if __name__ == "__main__":
    main()
