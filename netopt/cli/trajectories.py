"""``netopt-trajectories [KEY=VALUE ...]``: the paths of optimizers on 2-D test functions
(:mod:`netopt.studies.trajectories`); ``--help`` lists the options with their defaults.

Exit status 0 with a table of the paths and the folder written; 2 with one line on stderr for a
mistake (a key or value, an output folder that holds an earlier run or cannot be written).
"""

import sys
import time

from netopt.cli.common import fail, print_table, progress
from netopt.composition import error_line
from netopt.console import console
from netopt.errors import UserError, user_error

PROG = "netopt-trajectories"
UNIT = "paths"


def main(argv: list[str] | None = None) -> None:
    """Console entry point of ``netopt-trajectories``."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    arguments = sys.argv[1:] if argv is None else argv
    start = time.perf_counter()
    try:
        if "--help" in arguments or "-h" in arguments:
            from netopt.studies.trajectories_config import compose_config, help_text

            print(help_text(compose_config([a for a in arguments if a not in ("--help", "-h")])))
            return
        out = run(arguments)
    except (UserError, HydraException, OmegaConfBaseException) as error:
        cause = user_error(error)
        fail(PROG, str(cause) if cause else error_line(error, arguments))
    except KeyboardInterrupt:
        fail(PROG, "interrupted; the output folder holds what was written so far", 130)
    from netopt.report.records import read_records
    from netopt.studies.trajectories_report import RECORDS, table

    headers, numeric, rows = table(read_records(out / RECORDS))
    print_table(f"{out} ({time.perf_counter() - start:.1f} s)", headers, rows, numeric)
    console.print(
        f"written: {out} (report.html, report.md, records.jsonl, ...)", highlight=False, soft_wrap=True
    )
    from netopt.report.document import verdict_lines

    for line in verdict_lines(out):
        console.print(line, highlight=False, soft_wrap=True, markup=False)


def run(arguments: list[str]):  # noqa: ANN201 (a Path; torch only from here)
    """Check the config, then run every path with a progress bar per function."""
    from netopt.studies.trajectories_config import check_values, compose_config, lr_overridden

    check_values(compose_config(arguments), lr_overridden(arguments))  # before torch is imported
    from netopt.studies.trajectories import trajectories

    with progress(UNIT) as advance:
        return trajectories(arguments, advance)


if __name__ == "__main__":
    main()
