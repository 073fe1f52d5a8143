"""Forward + backward time of netopt's normalization layers against their torch.nn counterparts.

netopt's layers are written with tensor ops (batch, layer and group norm share one autograd
Function with the closed-form backward, and still support double backward); torch's are fused
kernels; the ratio says what that costs. Both run on the same input in the same process,
interleaved over several rounds, and the median ratio is printed.

    python scripts/bench_norm.py [--quick] [--batch-size 64] [--channels 64] [--size 16]
        [--rounds 5] [--threads 1]
"""

import argparse
import statistics
import time

import torch
from torch import nn

from netopt.nn import norm


def seconds_per_call(layer: nn.Module, x: torch.Tensor, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        layer(x).sum().backward()
    if x.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 3
    torch.set_num_threads(args.threads)
    n, c, s = args.batch_size, args.channels, args.size
    cases = {
        "BatchNorm2d": (norm.BatchNorm2d(c), nn.BatchNorm2d(c), (n, c, s, s)),
        "BatchNorm1d": (norm.BatchNorm1d(c * 8), nn.BatchNorm1d(c * 8), (n * 4, c * 8)),
        "LayerNorm": (norm.LayerNorm(c * 8), nn.LayerNorm(c * 8), (n * 4, c * 8)),
        "GroupNorm": (norm.GroupNorm(8, c), nn.GroupNorm(8, c), (n, c, s, s)),
        "LocalResponseNorm": (norm.LocalResponseNorm(5), nn.LocalResponseNorm(5), (n, c, s, s)),
    }
    print(f"{'layer':18s} {'netopt ms':>10s} {'torch ms':>10s} {'netopt/torch':>13s}")
    ratios = []
    for name, (mine, theirs, shape) in cases.items():
        mine, theirs = mine.to(args.device), theirs.to(args.device)
        x = torch.randn(shape, device=args.device, requires_grad=True)
        seconds_per_call(mine, x, 2), seconds_per_call(theirs, x, 2)  # warm-up
        times = [
            (seconds_per_call(mine, x, args.calls), seconds_per_call(theirs, x, args.calls))
            for _ in range(args.rounds)
        ]
        ratio = statistics.median(a / b for a, b in times)
        ratios.append(ratio)
        ours, reference = (statistics.median(t[i] for t in times) * 1e3 for i in (0, 1))
        print(f"{name:18s} {ours:10.2f} {reference:10.2f} {ratio:13.2f}")
    print(f"time ratio netopt/torch, highest over the layers: {max(ratios):.2f}")


if __name__ == "__main__":
    main()
