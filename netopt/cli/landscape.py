"""netopt-landscape RUN_DIR: the loss landscape of a finished (or interrupted) run, from its folder
(netopt.studies.landscape). The loss along the line from the initial to the final weights
(Goodfellow et al. 2015) and over a plane of filter-normalized directions around the final weights
(Li et al. 2018), as figures and CSV files in the folder (or --out) and in its TensorBoard.

    netopt-landscape outputs/runs/<run>                 # 21 x 21 points over [-1, 1]^2
    netopt-landscape outputs/runs/<run> --points 41 --span 0.5 --surface
    netopt-landscape outputs/runs/<run> --out landscapes/<run>   # a read-only run folder

Exit status 0 with a table of the landscape and the files written; 2 with one line on stderr for a
mistake (an argument, a folder without a run, a folder that cannot be written, a grid too large).
"""

import argparse
import time
from pathlib import Path

from netopt.cli.common import Parser, fail, print_table, progress
from netopt.console import console
from netopt.errors import UserError

PROG = "netopt-landscape"
UNIT = "points"


def main(argv: list[str] | None = None) -> None:
    """Console entry point of ``netopt-landscape``."""
    parser = Parser(PROG, __doc__)
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder (it holds checkpoint.pt)")
    parser.add_argument("--points", type=int, default=21, help="grid points along each direction")
    parser.add_argument("--span", type=float, default=1.0, help="the grid covers [-span, span]^2")
    parser.add_argument("--samples", type=int, default=2048, help="examples of each split evaluated")
    parser.add_argument("--seed", type=int, default=0, help="seeds the subsets and the directions")
    parser.add_argument("--surface", action="store_true", help="also draw the plane as a 3-D surface")
    parser.add_argument(
        "--out", type=Path, default=argparse.SUPPRESS, help="the folder to write into (default: RUN_DIR)"
    )
    args = parser.parse_args(argv)
    out = getattr(args, "out", args.run_dir)
    start = time.perf_counter()
    try:
        from netopt.studies.landscape import check, landscape, summary  # torch: once the arguments are read

        check(args.run_dir, args.points, args.span, args.samples, args.seed, out)
        console.print(f"{args.run_dir}: reading its checkpoint and data", highlight=False, soft_wrap=True)
        with progress(UNIT) as advance:
            result = landscape(
                args.run_dir, args.points, args.span, args.samples, args.surface, args.seed, out, advance
            )
    except UserError as error:
        fail(PROG, str(error))
    except KeyboardInterrupt:
        fail(PROG, "interrupted; the run folder's own files are as they were", 130)
    headers, rows = summary(result)
    print_table(f"{out} ({time.perf_counter() - start:.1f} s)", headers, rows, [False] + [True] * 4)
    console.print("written: " + ", ".join(str(p) for p in result.written), highlight=False, soft_wrap=True)


if __name__ == "__main__":
    main()
