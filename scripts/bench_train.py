"""Throughput of netopt's training loop against a minimal hand-written torch loop.

Both train the same model (built and initialized from the same config) on the same in-memory
tensors with the same batch size and plain SGD; the reference is the textbook loop (shuffle, forward,
cross-entropy, zero_grad, backward, torch.optim.SGD step) with nothing else. netopt's loop runs
as ``netopt-train`` runs it: every step it also keeps the batch's predictions for the running
accuracy (counted every 32 steps), checks the loss for NaN and logs its scalars to TensorBoard, every
10th step it measures the gradient norm, and it feeds the progress bar (drawn when stdout is a
terminal); after every epoch it validates, writes TensorBoard's events and saves its checkpoint.
Printed: training samples/s of each (training time only), best of ``--repeats``, and their ratio;
before it, the lowest and highest ratio of a single repeat.

The two alternate epoch by epoch in this process: one epoch of the reference runs right after each
of netopt's training epochs, before netopt's validation and checkpoint, so netopt's next epoch still
starts after its own work between epochs, as in a real run, while the reference's epochs run back
to back with netopt's training. A small virtual machine has slow phases lasting seconds; alternating
whole runs (a quarter of a second to a few seconds each) let them fall on one side, and the digits
MLP's ratio read anywhere from 0.90 to 1.06 on one machine in one hour. Alternating epochs, the
reference against a second copy of itself read 0.96-1.01 (best of 5, three times, each workload):
that is the noise left in a ratio.

netopt's run folders are written to memory (``/dev/shm`` where it exists): its checkpoint is synced
to disk after every epoch, and on a small virtual machine the disk's work goes on for milliseconds
after it and slows whichever loop runs next.

    python scripts/bench_train.py [--quick] [--repeats 5] [--threads 1] [--device auto]
"""

import argparse
import contextlib
import copy
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize
from omegaconf import DictConfig

from netopt import config
from netopt.components import make
from netopt.loop import Trainer
from netopt.run.runner import run

RUN_FOLDERS = "/dev/shm" if Path("/dev/shm").is_dir() else None  # in memory: see the docstring

# Each run trains for a quarter of a second (the digits MLP) to a few seconds (the 1024x4 MLP).
WORKLOADS = {
    "digits mlp (default run)": ["trainer.max_epochs=40"],
    "digits cnn": ["model=cnn", "trainer.max_epochs=10"],
    "digits mlp 1024x4, batch 256": [
        "model.width=1024",
        "model.depth=4",
        "trainer.batch_size=256",
        "trainer.max_epochs=10",
    ],
}


class Reference:
    """The minimal loop on the same data, model and initialization as ``run(cfg)``, an epoch at a
    time; it counts its samples and its seconds."""

    def __init__(self, cfg: DictConfig, device: torch.device) -> None:
        torch.manual_seed(cfg.trainer.seed)
        data = make(cfg, "dataset").load()
        preprocess = make(cfg, "preprocess").fit(data.train.x)
        self.x, self.y = preprocess(data.train.x).to(device), data.train.y.to(device)
        self.model = make(cfg, "model", data.in_shape, data.num_classes, make(cfg, "norm"))
        make(cfg, "init")(self.model, **self.model.init_arguments())
        self.model.to(device).train()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=cfg.optimizer.lr, foreach=True)
        self.generator = torch.Generator().manual_seed(cfg.trainer.seed)
        self.batch_size, self.device = cfg.trainer.batch_size, device
        self.seen, self.seconds = 0, 0.0

    def epoch(self) -> None:
        x, y, bs = self.x, self.y, self.batch_size
        start = time.perf_counter()
        order = torch.randperm(len(x), generator=self.generator).to(self.device)
        for i in range(0, len(x), bs):
            idx = order[i : i + bs]
            loss = F.cross_entropy(self.model(x[idx]), y[idx])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self.seconds += time.perf_counter() - start
        self.seen += len(x)

    def samples_per_s(self) -> float:
        return self.seen / self.seconds


@contextlib.contextmanager
def alternating(reference: Reference) -> Iterator[None]:
    """Every training epoch of netopt's :class:`Trainer` followed by one epoch of ``reference``."""
    train_epoch = Trainer.train_epoch

    def both(trainer: Trainer, *args: object) -> None:
        train_epoch(trainer, *args)
        reference.epoch()

    Trainer.train_epoch = both  # type: ignore[method-assign]
    try:
        yield
    finally:
        Trainer.train_epoch = train_epoch  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="best of 2")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 2
    torch.set_num_threads(args.threads)
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else "cpu"
        if args.device == "auto"
        else args.device
    )
    print(f"device {device}, {torch.get_num_threads()} thread(s), best of {args.repeats}")
    print(f"{'workload':34s} {'netopt/s':>10s} {'torch/s':>10s} {'each repeat':>11s} {'ratio':>6s}")
    config.register()
    ratios = []
    with initialize(version_base="1.3", config_path=None):
        for name, overrides in WORKLOADS.items():
            cfg = compose(config.PRIMARY, overrides=[*overrides, f"trainer.device={device}"])
            ours, theirs = [], []
            for _ in range(args.repeats):
                reference = Reference(cfg, device)
                with tempfile.TemporaryDirectory(dir=RUN_FOLDERS) as tmp, alternating(reference):
                    ours.append(run(copy.deepcopy(cfg), Path(tmp))["samples_per_s"])
                theirs.append(reference.samples_per_s())
            each = [a / b for a, b in zip(ours, theirs, strict=True)]
            spread, ratio = f"{min(each):.2f}-{max(each):.2f}", max(ours) / max(theirs)
            print(f"{name:34s} {max(ours):10.0f} {max(theirs):10.0f} {spread:>11s} {ratio:6.3f}")
            ratios.append(ratio)
    print(f"ratio netopt/torch (samples/s), lowest over the workloads: {min(ratios):.3f}")


if __name__ == "__main__":
    main()
