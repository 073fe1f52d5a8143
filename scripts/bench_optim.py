"""Step time of every netopt optimizer against its torch.optim counterpart, measured in one process.

Two parameter sets: the parameter shapes of ResNet-18 (11.7M parameters in 62 tensors) and many
small tensors (1,000 of 16 to 4,096 elements). For each optimizer the step is timed for netopt
(foreach, its default), netopt with its update compiled (``netopt.optim.compile_update``, what
``trainer.compile_optimizer=true`` does), torch.optim with ``foreach=True`` and, where
torch supports it on the device, ``fused=True``; rounds alternate between them and the fastest round
counts (the least disturbed by other work on a shared machine). Every optimizer steps twice before
the timing (creating its state; compiling, for the compiled update, whose compile time is printed
apart). Muon is timed on the set's tensors of 2 or more dimensions seen as matrices (torch's takes
2-D tensors only, one at a time: its "foreach" column). Targets: netopt / torch foreach <= 1.10
and compiled netopt / torch's fastest (fused where it exists, else foreach) <= 1.10.

    python scripts/bench_optim.py                      # CUDA if available, else CPU
    python scripts/bench_optim.py --quick              # fewer repetitions, no compiled update
    python scripts/bench_optim.py --sets resnet18 --only SGD Adam --no-compile
"""

import argparse
import os
import time
from collections.abc import Callable

import torch

import netopt.optim

OPTIMIZERS: list[tuple[str, str, dict]] = [
    ("SGD", "momentum", {"lr": 0.01, "momentum": 0.9}),
    ("SGD", "nesterov+decay", {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}),
    ("Adagrad", "", {"lr": 0.01}),
    ("RMSprop", "", {"lr": 1e-3}),
    ("RMSprop", "centered+momentum", {"lr": 1e-3, "centered": True, "momentum": 0.9}),
    ("Adadelta", "", {"lr": 1.0}),
    ("Adam", "", {"lr": 1e-3}),
    ("Adam", "amsgrad", {"lr": 1e-3, "amsgrad": True}),
    ("AdamW", "", {"lr": 1e-3, "weight_decay": 1e-2}),
    ("NAdam", "", {"lr": 2e-3}),
    ("Adamax", "", {"lr": 2e-3}),
    ("ASGD", "", {"lr": 1e-2}),
    ("Adafactor", "", {"lr": 1e-2}),
    ("Muon", "", {"lr": 0.02}),
]
#: Optimizers torch steps one tensor at a time only (no ``foreach`` argument): their "foreach"
#: column is torch's one implementation.
SINGLE_TENSOR = frozenset({"Muon"})
#: Optimizers for weight matrices only: timed on the set's tensors of 2 or more dimensions, each
#: seen as a matrix (first dimension by the others), as torch's Muon takes them; not on sets without.
MATRICES_ONLY = frozenset({"Muon"})


def resnet18_shapes() -> list[tuple[int, ...]]:
    """The parameter shapes of ResNet-18 for 1,000 classes (convolutions, batch-norm affines, fc)."""
    shapes: list[tuple[int, ...]] = [(64, 3, 7, 7), (64,), (64,)]
    channels = 64
    for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for block in range(2):
            shapes += [(width, channels, 3, 3), (width,), (width,), (width, width, 3, 3), (width,), (width,)]
            if block == 0 and (stride != 1 or channels != width):
                shapes += [(width, channels, 1, 1), (width,), (width,)]
            channels = width
    return [*shapes, (1000, 512), (1000,)]


def small_shapes(count: int = 1000) -> list[tuple[int, ...]]:
    generator = torch.Generator().manual_seed(0)
    return [(int(n),) for n in torch.randint(16, 4097, (count,), generator=generator)]


def make_params(shapes: list[tuple[int, ...]], device: torch.device) -> list[torch.Tensor]:
    """Random parameters with random gradients (the same for every optimizer: clone them)."""
    generator = torch.Generator(device).manual_seed(0)
    params = []
    for shape in shapes:
        p = torch.randn(shape, device=device, generator=generator).requires_grad_()
        p.grad = 1e-3 * torch.randn(shape, device=device, generator=generator)
        params.append(p)
    return params


def clone(params: list[torch.Tensor]) -> list[torch.Tensor]:
    copies = [p.detach().clone().requires_grad_() for p in params]
    for copy, p in zip(copies, params, strict=True):
        copy.grad = p.grad.clone()
    return copies


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(
    optimizers: dict[str, torch.optim.Optimizer], device: torch.device, reps: int, rounds: int
) -> dict:
    """Seconds per step of each optimizer in its fastest round, rounds alternating between them."""
    samples: dict[str, list[float]] = {label: [] for label in optimizers}
    for _ in range(rounds):
        for name, optimizer in optimizers.items():
            sync(device)
            start = time.perf_counter()
            for _ in range(reps):
                optimizer.step()
            sync(device)
            samples[name].append((time.perf_counter() - start) / reps)
    return {name: min(times) for name, times in samples.items()}


def compiled_update(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """``optimizer`` with its update compiled (:func:`netopt.optim.compile_update`)."""
    netopt.optim.compile_update(optimizer)
    return optimizer


def matrices(params: list[torch.Tensor]) -> list[torch.Tensor]:
    """The parameters of 2 or more dimensions, with their gradients, as matrices (first dimension by
    the others)."""
    found = []
    for p in params:
        if p.ndim >= 2:
            matrix = p.detach().reshape(p.size(0), -1).clone().requires_grad_()
            matrix.grad = p.grad.reshape(matrix.shape).clone()
            found.append(matrix)
    return found


def candidates(name: str, kwargs: dict, params: list[torch.Tensor], compiled: bool) -> dict[str, Callable]:
    foreach = {} if name in SINGLE_TENSOR else {"foreach": True}
    builders = {
        "netopt": lambda: getattr(netopt.optim, name)(clone(params), **kwargs),
        "netopt compiled": lambda: compiled_update(getattr(netopt.optim, name)(clone(params), **kwargs)),
        "torch foreach": lambda: getattr(torch.optim, name)(clone(params), **foreach, **kwargs),
        "torch fused": lambda: getattr(torch.optim, name)(clone(params), fused=True, **kwargs),
    }
    if not compiled:
        del builders["netopt compiled"]
    return builders


OPTIONAL = frozenset({"torch fused"})  # not on every device or for every optimizer


def build(builders: dict[str, Callable]) -> dict[str, torch.optim.Optimizer]:
    """The optimizers, each constructed and stepped twice (the first step creates the state, the
    second compiles a compiled update; both warm up). A candidate in ``OPTIONAL`` that fails on this
    device is left out; any other failure raises."""
    built = {}
    for label, make in builders.items():
        try:
            optimizer = make()
            optimizer.step()
            optimizer.step()
        except (RuntimeError, TypeError, ValueError):
            if label not in OPTIONAL:
                raise
            continue
        built[label] = optimizer
    return built


def cells(seconds: float | None, ratio: float | None = None, width: int = 8) -> str:
    """Milliseconds and a ratio (dashes where there are none)."""
    time_cell = f"{seconds * 1e3:9.2f}" if seconds is not None else f"{'-':>9}"
    return time_cell + (f"{ratio:{width}.2f}" if ratio is not None else f"{'-':>{width}}")


SETS = {"resnet18": ("resnet18 (11.7M)", resnet18_shapes), "small": ("1000 small", small_shapes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, no compiled update")
    parser.add_argument("--rounds", type=int, help="alternating rounds (default: 15 on CPU, 5 on CUDA)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these optimizers only (e.g. SGD Adam)")
    parser.add_argument(
        "--no-compile", dest="compiled", action="store_false", help="skip the compiled update"
    )
    args = parser.parse_args()
    args.compiled = args.compiled and not args.quick  # compiling every update takes minutes
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    on_cuda = device.type == "cuda"
    if on_cuda:
        reps, rounds = (5, 2) if args.quick else (20, 5)
    else:  # one step per round, many rounds: the fastest round survives a busy machine
        reps, rounds = (1, 3) if args.quick else (1, 15)
    rounds = args.rounds or rounds
    device_name = torch.cuda.get_device_name(device) if on_cuda else f"cpu, {args.threads} thread(s)"
    print(
        f"device: {device_name}, torch {torch.__version__}; ms/step, best of {rounds} rounds x {reps} steps;"
        f" load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'optimizer':<28}{'params':<18}{'netopt':>9}{'foreach':>9}{'ratio':>8}{'fused':>9}{'ratio':>8}"
        f"{'compiled':>9}{'/fastest':>9}{'compile s':>10}"
    )
    worst, worst_compiled = 0.0, 0.0
    for key in args.sets:
        label, shapes = SETS[key]
        params = make_params(shapes(), device)
        for name, variant, kwargs in OPTIMIZERS:
            if args.only and name not in args.only:
                continue
            stepped = matrices(params) if name in MATRICES_ONLY else params
            if not stepped:
                continue
            optimizers = build(candidates(name, kwargs, stepped, args.compiled))
            times = time_steps(optimizers, device, reps, rounds)
            ours, foreach, fused = times["netopt"], times["torch foreach"], times.get("torch fused")
            compiled, fastest = times.get("netopt compiled"), fused or foreach
            worst = max(worst, ours / foreach)
            compiled_step = getattr(optimizers.get("netopt compiled"), "compiled_update", None)
            compile_s = getattr(compiled_step, "compile_time_s", None)
            if compiled is not None:
                worst_compiled = max(worst_compiled, compiled / fastest)
            title = f"{name} {variant}".strip() + (" (1-tensor torch)" if name in SINGLE_TENSOR else "")
            print(
                f"{title:<28}{label:<18}{ours * 1e3:9.2f}{cells(foreach, ours / foreach)}"
                + cells(fused, fused and ours / fused)
                + cells(compiled, compiled and compiled / fastest, width=9)
                + (f"{compile_s:10.1f}" if compile_s is not None else f"{'-':>10}"),
                flush=True,
            )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    if args.compiled:
        print(f"worst compiled netopt / torch-fastest ratio: {worst_compiled:.2f} (target <= 1.10)")
    print(f"worst netopt / torch-foreach ratio: {worst:.2f} (target <= 1.10)")


if __name__ == "__main__":
    main()
