"""``netopt-report DIR [--metric KEY] [--direction maximize|minimize]``: write the report of the runs
below DIR into it.

Exit status 0 with the report's path on stdout, 2 with one line on stderr when DIR holds no runs,
does not exist, holds a file netopt did not write that way (a metrics.json that is not an object,
YAML that does not parse, a text cell in epochs.csv), cannot be written into, has a malformed claim,
``--metric`` is not a metric of its runs, or the metric has no direction and no ``--direction`` is given.
"""

import argparse
import sys
from typing import NoReturn

from netopt.errors import UserError, first_line


def main(argv: list[str] | None = None) -> None:
    """The console script; argv defaults to the command line."""
    parser = argparse.ArgumentParser(
        prog="netopt-report",
        description="Write report.md, report.html, figures, runs.csv (and claims.json) for the runs in DIR.",
    )
    parser.add_argument("dir", metavar="DIR", help="a sweep folder (multirun) or any folder of run folders")
    parser.add_argument(
        "--metric",
        help="metrics.json key that ranks configurations (default: the sweep's metric, else val_acc, "
        "else test_acc, else train_acc)",
    )
    parser.add_argument(
        "--direction",
        choices=("maximize", "minimize"),
        help="how the metric improves (default: the sweep's direction, else as its name says: "
        "*acc* maximize, *loss* minimize)",
    )
    args = parser.parse_args(argv)
    from netopt.report.sweep import write_report  # torch and matplotlib: once the arguments are read

    try:
        path = write_report(args.dir, metric=args.metric, direction=args.direction)
    except UserError as error:
        fail(str(error))
    except OSError as error:  # a read-only folder, a full disk
        fail(f"{error.filename or args.dir}: {error.strerror or first_line(error)}")
    print(f"report: {path} (and report.md, runs.csv, figures beside it)")
    from netopt.report.document import verdict_lines

    for line in verdict_lines(path.parent):
        print(line)


def fail(message: str) -> NoReturn:
    print(f"netopt-report: error: {message}", file=sys.stderr)
    raise SystemExit(2)
