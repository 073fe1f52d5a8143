"""Images per second of netopt's batched augmentation against torchvision.transforms.v2 per sample.

Both apply the same operations with fresh random parameters per image: horizontal flip (p=0.5),
one affine map with rotation U(-10, 10) degrees, scale U(0.9, 1.1) and translation up to 10%
(bilinear, zeros outside), and additive Gaussian noise N(0, 0.1^2) (p=0.5). torchvision runs
its transforms image by image, as a Dataset's __getitem__ would; netopt runs one batch at a time.
Timed in the same process, so the printed ratio is meaningful even on a busy machine.

    python scripts/bench_augment.py [--quick] [--batch-size 256] [--size 28] [--seconds 0.5]
        [--rounds 7] [--threads 2]
"""

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torchvision.transforms import v2

from netopt.data.augment import Augment


def images_per_second(fn: Callable[[], torch.Tensor], images: int, seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        count += images
    return count / elapsed


def compare(
    ours: Callable[[], torch.Tensor],
    theirs: Callable[[], torch.Tensor],
    images: int,
    args: argparse.Namespace,
) -> list[float]:
    """Median images/s of each over ``args.rounds`` alternating rounds (robust to a busy machine)."""
    ours(), theirs()  # warm-up
    rates = [
        (images_per_second(ours, images, args.seconds), images_per_second(theirs, images, args.seconds))
        for _ in range(args.rounds)
    ]
    return [statistics.median(column) for column in zip(*rates, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--size", type=int, default=28, help="image height and width")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=0.5, help="timing per method and round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 0.2 s")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 3, 0.2
    torch.set_num_threads(args.threads)

    x = torch.rand(args.batch_size, args.channels, args.size, args.size)
    generator = torch.Generator().manual_seed(0)
    batched = Augment(
        flip_p=0.5, rotate_p=1.0, degrees=10.0, scale_p=1.0, scale=(0.9, 1.1),
        translate_p=1.0, translate=0.1, noise_p=0.5, noise_std=0.1,
    )  # fmt: skip
    per_sample = v2.Compose(
        [
            v2.RandomHorizontalFlip(p=0.5),
            v2.RandomAffine(
                degrees=10.0,
                translate=(0.1, 0.1),
                scale=(0.9, 1.1),
                interpolation=v2.InterpolationMode.BILINEAR,
                fill=0.0,
            ),  # fmt: skip
            v2.RandomApply([v2.GaussianNoise(mean=0.0, sigma=0.1, clip=False)], p=0.5),
        ]
    )

    ours, theirs = compare(
        lambda: batched(x, generator), lambda: torch.stack([per_sample(image) for image in x]), len(x), args
    )
    print(
        f"{args.batch_size} images {args.channels}x{args.size}x{args.size}, {args.threads} threads, "
        f"median of {args.rounds} alternating rounds\n"
        f"netopt batched Augment          {ours:12,.0f} images/s\n"
        f"torchvision.transforms.v2 each  {theirs:12,.0f} images/s\n"
        f"ratio                           {ours / theirs:12.1f}x"
    )


if __name__ == "__main__":
    main()
