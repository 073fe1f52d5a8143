"""Throughput of data-parallel training (trainer.strategy=ddp) on N CPU processes against one process.

Both train the same run (config, data, global batch) through ``netopt.run.runner.run``; the N processes
are forked from this one, one torch thread each, and joined over gloo with torchrun's variables.
samples/s is metrics.json's: training samples over training time (rank 0's clock, evaluation not
counted). Printed: samples/s of each, their ratio (N at best, on N idle cores), best of ``--repeats``
alternating measurements, and the load average before and after (the cores may be shared).

    python scripts/bench_ddp.py [--quick] [--processes 2] [--repeats 3]
"""

import argparse
import copy
import json
import os
import socket
import tempfile
from pathlib import Path

import torch
import torch.multiprocessing as mp
from bench_train import WORKLOADS  # the single-process benchmark's workloads (scripts/ is on the path)
from hydra import compose, initialize
from omegaconf import DictConfig

from netopt import config
from netopt.run.runner import run


def _rank(rank: int, size: int, port: int, cfg: DictConfig, run_dir: Path) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(size),
    )
    run(copy.deepcopy(cfg), run_dir)


def data_parallel_samples_per_s(cfg: DictConfig, size: int) -> float:
    """samples/s of ``cfg`` on ``size`` forked processes."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        mp.start_processes(_rank, (size, port, cfg, Path(tmp)), nprocs=size, start_method="fork")
        return json.loads((Path(tmp) / "metrics.json").read_text())["samples_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one repeat")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 1
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    print(f"load average {load:.2f} on {os.cpu_count()} cores; best of {args.repeats}, 1 thread a process")
    print(f"{'workload':34s} {'1 proc/s':>10s} {f'{args.processes} procs/s':>10s} {'ratio':>6s}")
    config.register()
    ratios = []
    with initialize(version_base="1.3", config_path=None):
        for name, overrides in WORKLOADS.items():
            common = [*overrides, "trainer.device=cpu", "trainer.progress=false"]
            single = compose(config.PRIMARY, overrides=common)
            parallel = compose(config.PRIMARY, overrides=[*common, "trainer.strategy=ddp"])
            ones, many = [], []
            for _ in range(args.repeats):
                with tempfile.TemporaryDirectory() as tmp:
                    ones.append(run(copy.deepcopy(single), Path(tmp))["samples_per_s"])
                many.append(data_parallel_samples_per_s(parallel, args.processes))
            ratios.append(max(many) / max(ones))
            print(f"{name:34s} {max(ones):10.0f} {max(many):10.0f} {ratios[-1]:6.2f}")
    print(f"load average {os.getloadavg()[0]:.2f}")
    print(f"ratio {args.processes} processes / 1, lowest over the workloads: {min(ratios):.2f}")


if __name__ == "__main__":
    main()
