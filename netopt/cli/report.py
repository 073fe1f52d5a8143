"""``netopt-report DIR [--metric KEY]``: write the report of the runs below DIR into it.

Exit status 0 with the report's path on stdout, 2 with one line on stderr when DIR holds no runs,
does not exist or has a malformed claim.
"""

import argparse
import sys

from netopt.errors import UserError


def main(argv: list[str] | None = None) -> None:
    """The console script; argv defaults to the command line."""
    parser = argparse.ArgumentParser(
        prog="netopt-report",
        description="Write report.md, report.html, figures, runs.csv (and claims.json) for the runs in DIR.",
    )
    parser.add_argument("dir", metavar="DIR", help="a sweep folder (multirun) or any folder of run folders")
    parser.add_argument(
        "--metric",
        help="metrics.json key that ranks configurations, higher is better "
        "(default: val_acc, else test_acc, else train_acc)",
    )
    args = parser.parse_args(argv)
    from netopt.report.sweep import write_report  # torch and matplotlib: once the arguments are read

    try:
        path = write_report(args.dir, metric=args.metric)
    except UserError as error:
        print(f"netopt-report: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"report: {path} (and report.md, runs.csv, figures beside it)")
