"""``netopt-landscape RUN_DIR``: the loss landscape of a finished (or interrupted) run, from its folder
(:mod:`netopt.studies.landscape`): the loss along the line from the initial to the final weights
and over a plane of filter-normalized directions around the final weights, as figures and CSV files
in the folder and in its TensorBoard.

    netopt-landscape outputs/runs/<run>                 # 21 x 21 points over [-1, 1]^2
    netopt-landscape outputs/runs/<run> --points 41 --span 0.5 --surface
"""

import argparse
import sys
import time
from pathlib import Path

from netopt.errors import UserError
from netopt.studies.landscape import landscape


def main() -> None:
    """Console entry point of ``netopt-landscape``."""
    parser = argparse.ArgumentParser(
        prog="netopt-landscape", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder (it holds checkpoint.pt)")
    parser.add_argument("--points", type=int, default=21, help="grid points along each direction")
    parser.add_argument("--span", type=float, default=1.0, help="the grid covers [-span, span]^2")
    parser.add_argument("--samples", type=int, default=2048, help="examples of each split evaluated")
    parser.add_argument("--seed", type=int, default=0, help="seeds the subsets and the directions")
    parser.add_argument("--surface", action="store_true", help="also draw the plane as a 3-D surface")
    args = parser.parse_args()
    start = time.perf_counter()
    try:
        if args.points < 2 or args.samples < 1 or not args.span > 0:
            raise UserError("--points must be >= 2, --samples >= 1 and --span > 0")
        written = landscape(args.run_dir, args.points, args.span, args.samples, args.surface, args.seed)
    except UserError as error:
        print(f"netopt-landscape: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"written in {time.perf_counter() - start:.1f} s: " + ", ".join(str(p) for p in written))


if __name__ == "__main__":
    main()
