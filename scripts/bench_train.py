"""Throughput of netopt's training loop against a minimal hand-written torch loop.

Both train the same model (built and initialized from the same config) on the same in-memory
tensors with the same batch size and plain SGD; the reference is the textbook loop (shuffle, forward,
cross-entropy, zero_grad, backward, torch.optim.SGD step) with nothing else. netopt's loop runs
as ``netopt-train`` runs it: every step it also keeps the batch's predictions for the running
accuracy (counted every 32 steps), checks the loss for NaN and logs its scalars to TensorBoard, every
10th step it measures the gradient norm, and it feeds the progress bar (drawn when stdout is a
terminal). Printed: training samples/s of each and their ratio, best of ``--repeats`` alternating
measurements in this process.

netopt's run folders are written to memory (``/dev/shm`` where it exists). Its checkpoint after every
epoch is synced to disk, outside the timed training, but on a small virtual machine the disk's work
goes on for milliseconds after it and slows whichever loop runs next, netopt's or the reference's
(the digits MLP's ratio read 0.954 and 0.955 on disk, 0.968-0.972 in memory in three runs).

    python scripts/bench_train.py [--repeats 3] [--threads 1] [--device auto]
"""

import argparse
import copy
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize

from netopt import config
from netopt.train import make, run

RUN_FOLDERS = "/dev/shm" if Path("/dev/shm").is_dir() else None  # in memory: see the docstring

# Each run lasts about a second or more: a shorter one measures the machine's hiccups, not the loop.
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


def reference_samples_per_s(cfg, device: torch.device) -> float:
    """The minimal loop on the same data, model and initialization as ``run(cfg)``."""
    torch.manual_seed(cfg.trainer.seed)
    data = make(cfg, "dataset").load()
    preprocess = make(cfg, "preprocess").fit(data.train.x)
    x, y = preprocess(data.train.x).to(device), data.train.y.to(device)
    model = make(cfg, "model", data.in_shape, data.num_classes, make(cfg, "norm"), 0.0)
    make(cfg, "init")(model, **model.init_arguments())
    model.to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.optimizer.lr, foreach=True)
    generator = torch.Generator().manual_seed(cfg.trainer.seed)
    bs, seen = cfg.trainer.batch_size, 0
    start = time.perf_counter()
    for _ in range(cfg.trainer.max_epochs):
        order = torch.randperm(len(x), generator=generator).to(device)
        for i in range(0, len(x), bs):
            idx = order[i : i + bs]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += len(idx)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else "cpu"
        if args.device == "auto"
        else args.device
    )
    print(f"device {device}, {torch.get_num_threads()} thread(s), best of {args.repeats}")
    print(f"{'workload':34s} {'netopt/s':>10s} {'torch/s':>10s} {'ratio':>6s}")
    config.register()
    with initialize(version_base="1.3", config_path=None):
        for name, overrides in WORKLOADS.items():
            cfg = compose(config.PRIMARY, overrides=[*overrides, f"trainer.device={device}"])
            ours, theirs = [], []
            for _ in range(args.repeats):
                with tempfile.TemporaryDirectory(dir=RUN_FOLDERS) as tmp:
                    ours.append(run(copy.deepcopy(cfg), Path(tmp))["samples_per_s"])
                theirs.append(reference_samples_per_s(cfg, device))
            print(f"{name:34s} {max(ours):10.0f} {max(theirs):10.0f} {max(ours) / max(theirs):6.3f}")


if __name__ == "__main__":
    main()
