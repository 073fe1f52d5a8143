"""Draw docs/trajectories.png: the paths of every optimizer netopt-trajectories draws on the saddle
x^2 - y^2, exactly as the command draws them.

The figure is the command's own ``saddle.png`` (``netopt-trajectories 'functions=[saddle]'``, its
config in conf/trajectories.yaml: the optimizers, their learning rates, the start and the steps), so
it shows what the tool shows today; overrides go to the command.

    python scripts/plot_trajectories.py                              # writes docs/trajectories.png
    python scripts/plot_trajectories.py --out rosenbrock.png 'functions=[rosenbrock]'
"""

import argparse
import shutil
import tempfile
from pathlib import Path

from netopt.studies.trajectories import trajectories


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "docs" / "trajectories.png")
    parser.add_argument(
        "overrides", nargs="*", help="netopt-trajectories overrides (default: 'functions=[saddle]')"
    )
    args = parser.parse_args(argv)
    overrides = args.overrides or ["functions=[saddle]"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = trajectories([*overrides, f"out={tmp}"])
        shutil.copyfile(min(folder.glob("*.png")), args.out)  # the first function's figure
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
