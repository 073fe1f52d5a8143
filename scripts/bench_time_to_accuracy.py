"""Time to accuracy on Fashion-MNIST: netopt's fastest preset against the PyTorch MNIST example.

Both run on this machine with the same number of threads, one after the other (alternating when
``--repeats`` > 1), on the Fashion-MNIST files of ``--root`` (unpacked there from the Debian package
``dataset-fashion-mnist`` when it is installed):

- the reference, written here in plain torch: the PyTorch MNIST example (pytorch/examples,
  mnist/main.py) as it ships, pointed at Fashion-MNIST. Conv 1->32 3x3, ReLU, conv 32->64 3x3, ReLU,
  2x2 max-pool, dropout 0.25, linear 9216->128, ReLU, dropout 0.5, linear 128->10, log-softmax and
  NLL; Adadelta lr 1.0, StepLR gamma 0.7 every epoch, batch 64, test batch 1000, 14 epochs, seed 1;
  torchvision ``FashionMNIST`` through a ``DataLoader`` with ``ToTensor()`` and
  ``Normalize((0.1307,), (0.3081,))``. The training set is shuffled (the example shuffles on an
  accelerator; as shipped it does not on a CPU), without worker processes (as on a CPU).
- netopt: ``experiment=fashion_mnist_fast`` (or ``--preset``, e.g. ``fashion_mnist_record``) through
  :func:`netopt.run.runner.run`, as ``netopt-train`` runs it (validation after every epoch, the
  checkpoint saved, TensorBoard logs written).

Clocks. The reference's clock runs from reading the dataset to the end of each epoch's training;
its test evaluation after each epoch (the example's ``test()``) is left out of it. netopt's clock
runs from the call of ``run`` (reading the data, building, preprocessing included) to the end of
each epoch: training, validation and the checkpoint. Test accuracy after every epoch is for this
table only and never seen by the run: the runner's checkpoint saving is wrapped so that it also
keeps a copy of the model's weights after each epoch (the copying time is taken off the clock), and
the copies are evaluated on the test set after the run. The last copy's accuracy is the run's own
final test accuracy (checked). What a process pays once (unpacking the files, the module torch
imports for its first optimizer) is paid before both clocks. ``--clock cpu`` makes both clocks count
this process's CPU seconds instead of wall seconds: on one thread (``--threads 1``) that is the work
each does, nearly independent of what else a shared machine runs, so a busy machine can still measure
the ratios; as the reference's CPU seconds then hardly vary, ``--reference-runs 1`` trains it once and
reuses its curve in every repeat.

Printed: both per-epoch tables (seconds and test accuracy), the time of each to reach ``--target``
test accuracy and their ratio netopt/reference, and the time netopt takes to reach the reference's
accuracy after its last epoch over the reference's total time. ``--quick`` is a measurement that
fits a few minutes of a busy machine: 2 epochs of each (netopt's ``trainer.max_epochs=2``, its
schedule laid over them; the reference's epochs cut to their first ``QUICK_REFERENCE_BATCHES`` batches
of 64), a target of 80% unless ``--target`` is given, the reference stopped at the target (then the
second ratio is not measured). Repeat r trains netopt with ``trainer.seed`` =
the preset's seed + r - 1, so ``--repeats 5`` is a mean over 5 seeds; ``--goal`` (e.g. ``--goal 0.93``)
adds, per repeat, netopt's time to that test accuracy over the reference's total time, and at the end
its mean with a 95% t-interval over the repeats that reached it.

    python scripts/bench_time_to_accuracy.py [--root DIR] [--threads N] [--repeats R] [--quick] [--target A]
        [--preset fashion_mnist_record] [--goal 0.93 --goal 0.94]
"""

import argparse
import logging
import math
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import torch
import torch._dynamo  # noqa: F401  # the first optimizer of a process imports it (seconds): off both clocks
import torch.nn.functional as F
from hydra import compose, initialize
from torch import Tensor, nn

import netopt.components
import netopt.run.runner
from netopt import config
from netopt.data.batches import batches
from netopt.data.datasets import FashionMNIST
from netopt.report.stats import mean_ci
from netopt.run.checkpoint import Checkpoint

PRESET = "fashion_mnist_fast"
#: --quick: the reference's epochs are its first this many batches (19,200 images, a third of an epoch).
QUICK_REFERENCE_BATCHES = 300

#: What both clocks count: wall seconds, or (``--clock cpu``) this process's CPU seconds, which on one
#: thread measure the work done, nearly whatever else the machine runs.
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]


def use_clock(name: str) -> None:
    """Time both runs with ``CLOCKS[name]`` from now on."""
    global clock
    clock = CLOCKS[name]


@dataclass
class Curve:
    """Test accuracy after each epoch of one run, with the seconds the run had taken by then."""

    name: str
    seconds: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)

    def add(self, seconds: float, accuracy: float) -> None:
        self.seconds.append(seconds)
        self.accuracy.append(accuracy)

    def time_to(self, accuracy: float) -> float:
        """Seconds to the end of the first epoch reaching ``accuracy`` (inf if none does)."""
        return next((s for s, a in zip(self.seconds, self.accuracy, strict=True) if a >= accuracy), math.inf)


# --- the reference: the PyTorch MNIST example --------------------------------------------------------
class ReferenceNet(nn.Module):
    """The example's ``Net``; returns log-probabilities."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        x = self.dropout1(F.max_pool2d(x, 2))
        x = self.dropout2(F.relu(self.fc1(torch.flatten(x, 1))))
        return F.log_softmax(self.fc2(x), dim=1)


def reference_loaders(root: str, batch_size: int = 64, test_batch_size: int = 1000) -> tuple[Any, Any]:
    """The example's train and test ``DataLoader``s, on Fashion-MNIST."""
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train = datasets.FashionMNIST(root, train=True, transform=transform)
    test = datasets.FashionMNIST(root, train=False, transform=transform)
    return (
        torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True),
        torch.utils.data.DataLoader(test, batch_size=test_batch_size),
    )


def reference_test(model: nn.Module, loader: Any) -> float:
    """The example's ``test()``: accuracy of the eval-mode model over the loader."""
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((model(x).argmax(dim=1) == y).sum())
            total += len(y)
    return correct / total


def train_reference(
    root: str, epochs: int = 14, stop_at: float | None = None, limit_batches: int | None = None
) -> Curve:
    """The example's training on Fashion-MNIST; test accuracy after each epoch (off the clock).
    ``stop_at`` ends it at the first epoch reaching that accuracy; ``limit_batches`` caps the
    training batches per epoch (a smoke test)."""
    from torch.optim.lr_scheduler import StepLR

    curve, elapsed, tick = Curve("reference"), 0.0, clock()
    torch.manual_seed(1)
    train, test = reference_loaders(root)
    model = ReferenceNet()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    for _ in range(epochs):
        model.train()
        for i, (x, y) in enumerate(train):
            if i == limit_batches:
                break
            optimizer.zero_grad()
            loss = F.nll_loss(model(x), y)
            loss.backward()
            optimizer.step()
        scheduler.step()
        elapsed += clock() - tick
        curve.add(elapsed, reference_test(model, test))  # off the clock
        print(
            f"reference epoch {len(curve.seconds)}: {elapsed:.1f} s, test acc {curve.accuracy[-1]:.4f}",
            flush=True,
        )
        tick = clock()
        if stop_at is not None and curve.accuracy[-1] >= stop_at:
            break
    return curve


# --- netopt -----------------------------------------------------------------------------------------
class Snapshots:
    """The model's weights after every epoch of a netopt run and the seconds since :meth:`start`.

    :meth:`checkpoint` is a :class:`netopt.run.checkpoint.Checkpoint` that also takes a snapshot each
    time the runner saves (after every epoch's validation); the copying is taken off the clock.
    """

    def __init__(self) -> None:
        self.states: list[dict[str, Tensor]] = []
        self.seconds: list[float] = []
        self.parts: dict[str, Any] = {}
        self.origin = clock()

    def start(self) -> None:
        self.origin = clock()

    def take(self, model: nn.Module) -> None:
        now = clock()
        self.seconds.append(now - self.origin)
        self.states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        self.origin += clock() - now

    def checkpoint(self) -> type[Checkpoint]:
        snapshots = self

        class Recording(Checkpoint):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                snapshots.parts = self.parts

            def save(self) -> None:
                super().save()
                snapshots.take(self.parts["model"])

        return Recording


def compose_preset(root: str, threads: int, overrides: Sequence[str] = (), preset: str = PRESET) -> Any:
    """The composed config of ``experiment=<preset>``, reading ``root``, on ``threads`` threads."""
    config.register()
    with initialize(version_base="1.3", config_path=None):
        return compose(
            config.PRIMARY,
            overrides=[
                f"experiment={preset}",
                f"dataset.root={root}",
                f"trainer.num_threads={threads}",
                "trainer.progress=false",
                *overrides,
            ],
        )


def train_netopt(cfg: Any) -> tuple[Curve, dict[str, Any]]:
    """One run of ``cfg`` through :func:`netopt.run.runner.run`; its per-epoch test accuracy (evaluated
    after the run from the snapshots) and its final metrics."""
    snapshots = Snapshots()
    deterministic = torch.are_deterministic_algorithms_enabled()
    with (
        tempfile.TemporaryDirectory() as run_dir,
        mock.patch.object(netopt.run.runner, "Checkpoint", snapshots.checkpoint()),
    ):
        snapshots.start()
        metrics = netopt.run.runner.run(cfg, Path(run_dir))
    torch.use_deterministic_algorithms(deterministic)  # the run sets it for the whole process
    model, preprocess = snapshots.parts["model"], snapshots.parts["preprocess"]
    test = netopt.components.make(cfg, "dataset").load().test
    device = next(model.parameters()).device
    x, y = preprocess(test.x).to(device), test.y.to(device)  # as the runner tests
    curve, t = Curve("netopt"), cfg.trainer
    for seconds, state in zip(snapshots.seconds, snapshots.states, strict=True):
        model.load_state_dict(state)
        curve.add(seconds, accuracy(model, x, y, t.eval_batch_size, t.limit_batches))
    if curve.accuracy and abs(curve.accuracy[-1] - metrics["test_acc"]) > 1e-3:
        raise RuntimeError(
            f"last snapshot's test acc {curve.accuracy[-1]} != the run's {metrics['test_acc']}"
        )
    return curve, metrics


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int, limit: int | None = None) -> float:
    """Accuracy of the eval-mode model over the batches the runner tests on (``limit`` as the runner's)."""
    model.eval()
    correct = seen = 0
    for xb, yb in batches(x, y, batch_size, limit=limit):
        correct += int((model(xb).argmax(dim=1) == yb).sum())
        seen += len(yb)
    return correct / seen


# --- report -----------------------------------------------------------------------------------------
def table(curves: Sequence[Curve]) -> str:
    """Per-epoch seconds and test accuracy of each curve, side by side."""
    head = "epoch" + "".join(f" | {c.name + ' s':>13s} {'test acc':>8s}" for c in curves)
    lines = [head, "-" * len(head)]
    for epoch in range(max(len(c.seconds) for c in curves)):
        cells = "".join(
            f" | {c.seconds[epoch]:13.1f} {c.accuracy[epoch]:8.4f}"
            if epoch < len(c.seconds)
            else " |" + " " * 23
            for c in curves
        )
        lines.append(f"{epoch + 1:5d}{cells}")
    return "\n".join(lines)


def ratio(ours: float, theirs: float) -> float:
    return ours / theirs if math.isfinite(ours) and math.isfinite(theirs) else math.nan


def seconds(value: float) -> str:
    return f"{value:.1f} s" if math.isfinite(value) else "not reached"


def compare(reference: Curve, ours: Curve, target: float, complete: bool) -> dict[str, float]:
    """The two ratios: time to ``target`` and time to the reference's final accuracy over its total
    time (only when the reference ran all its epochs, ``complete``)."""
    ratios = {"to_target": ratio(ours.time_to(target), reference.time_to(target))}
    print(
        f"time to {target:.2%} test acc: reference {seconds(reference.time_to(target))}, "
        f"netopt {seconds(ours.time_to(target))}, ratio netopt/reference {ratios['to_target']:.3f}"
    )
    if complete:
        final = reference.accuracy[-1]
        ratios["to_final"] = ratio(ours.time_to(final), reference.seconds[-1])
        print(
            f"reference's final test acc {final:.4f} after {len(reference.seconds)} epochs in "
            f"{seconds(reference.seconds[-1])}; netopt reaches it in {seconds(ours.time_to(final))}, "
            f"ratio {ratios['to_final']:.3f}"
        )
    return ratios


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (other processes slow both recipes down)."""
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--threads", type=int, default=len(os.sched_getaffinity(0)), help="default: all cores"
    )
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs of each")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"2 epochs each (the reference's of {QUICK_REFERENCE_BATCHES} batches), target 0.80, "
        "the reference stopped at it",
    )
    parser.add_argument("--target", type=float, help="test accuracy to time (default 0.91; quick 0.80)")
    parser.add_argument(
        "--goal",
        type=float,
        action="append",
        default=[],
        help="test accuracy whose time netopt takes, over the reference's total time (repeatable)",
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall seconds (default) or this process's CPU seconds (for a busy machine, with --threads 1)",
    )
    parser.add_argument(
        "--reference-runs",
        type=int,
        help="train the reference in the first N repeats only; later repeats reuse the last (CPU clock)",
    )
    parser.add_argument("--epochs", type=int, default=14, help="the reference's epochs (the example: 14)")
    parser.add_argument("--preset", default=PRESET, help=f"netopt's experiment (default {PRESET})")
    parser.add_argument("--root", default=os.environ.get("NETOPT_DATA", "./data"), help="dataset folder")
    parser.add_argument("--limit-batches", type=int, help="training batches per epoch of each (smoke test)")
    parser.add_argument("overrides", nargs="*", help="netopt overrides added to the preset (KEY=VALUE)")
    args = parser.parse_args(argv)
    if args.target is None:
        args.target = 0.80 if args.quick else 0.91
    if args.quick:
        args.epochs = min(args.epochs, 2)
        if not any(o.startswith("trainer.max_epochs=") for o in args.overrides):
            args.overrides = ["trainer.max_epochs=2", *args.overrides]
    for name in ("threads", "repeats", "epochs", "limit_batches", "reference_runs"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')}: must be >= 1, got {value}")
    for name, value in [("target", args.target), *(("goal", g) for g in args.goal)]:
        if not 0 < value <= 1:
            parser.error(f"--{name}: must be in (0, 1], got {value}")
    if args.goal and args.quick:
        parser.error("--goal: needs the reference's full run, not --quick")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")  # netopt's epoch lines
    torch.set_num_threads(args.threads)
    use_clock(args.clock)
    overrides = [
        *args.overrides,
        *([f"trainer.limit_batches={args.limit_batches}"] if args.limit_batches else []),
    ]
    seed = compose_preset(args.root, args.threads, overrides, args.preset).trainer.seed
    FashionMNIST(root=args.root).load()  # unpack the files once, off both clocks
    print(
        f"{torch.get_num_threads()} thread(s), {args.repeats} repeat(s), {args.clock} clock, "
        f"load average {load_average()}"
    )
    ratios: list[dict[str, float]] = []
    finals: list[float] = []
    for repeat in range(1, args.repeats + 1):
        if args.reference_runs is None or repeat <= args.reference_runs:
            reference = train_reference(
                args.root,
                args.epochs,
                args.target if args.quick else None,
                args.limit_batches or (QUICK_REFERENCE_BATCHES if args.quick else None),
            )
        cfg = compose_preset(
            args.root, args.threads, [*overrides, f"trainer.seed={seed + repeat - 1}"], args.preset
        )
        ours, metrics = train_netopt(cfg)
        print(f"\nrepeat {repeat}/{args.repeats}, seed {cfg.trainer.seed} (load average {load_average()})")
        print(table([reference, ours]))
        print(
            f"netopt: final val acc {metrics['val_acc']:.4f}, test acc {metrics['test_acc']:.4f}, "
            f"run {metrics['wall_time_s']:.1f} s with its final train/test evaluation"
        )
        ratios.append(compare(reference, ours, args.target, not args.quick))
        for goal in args.goal:
            ratios[-1][f"{goal:.2%}_of_total"] = ratio(ours.time_to(goal), reference.seconds[-1])
            print(
                f"netopt reaches {goal:.2%} in {seconds(ours.time_to(goal))}: "
                f"{ratios[-1][f'{goal:.2%}_of_total']:.3f} of the reference's total time"
            )
        finals.append(metrics["test_acc"])
    for goal in args.goal:
        reached = [r[f"{goal:.2%}_of_total"] for r in ratios if math.isfinite(r[f"{goal:.2%}_of_total"])]
        est = mean_ci(reached)
        print(
            f"time to {goal:.2%} test acc over the reference's total time: {len(reached)}/{len(ratios)} "
            f"reached it; mean {est.mean:.3f} (95% CI {est.low:.3f}-{est.high:.3f})"
        )
    if len(finals) > 1:
        est = mean_ci(finals, bounds=(0.0, 1.0))
        print(
            f"netopt's final test acc over {len(finals)} seeds: {est.mean:.4f} "
            f"(95% CI {est.low:.4f}-{est.high:.4f})"
        )
    if args.repeats > 1:
        for key in ratios[0]:
            values = [r[key] for r in ratios]
            each = ", ".join(f"{v:.3f}" for v in values)
            print(f"median ratio {key}: {statistics.median(values):.3f} (each: {each})")


if __name__ == "__main__":
    main()
