"""``netopt-hpo-budget``: grid, random, Bayesian, Hyperband, ASHA, BOHB and PBT search at one budget of
epochs (:mod:`netopt.studies.hpo_budget`), and its report (:mod:`netopt.studies.hpo_budget_report`).

    netopt-hpo-budget                                      # 7 searchers x 5 seeds on the Fashion-MNIST MLP
    netopt-hpo-budget --seeds 0 --grid 2 --epochs 3 trainer.limit_batches=2   # a miniature
    netopt-hpo-budget model.width=64                       # netopt-train overrides for every trial

``<out>`` gets a folder per search and seed (its trials' run folders, journal.jsonl, results.csv,
best.yaml), anytime.png, trials.png, anytime.csv, records.jsonl, report.md, report.html and claims.json,
written again after each seed.
"""

import argparse
import functools
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from netopt.cli.common import Parser, fail
from netopt.errors import UserError, user_error


def run(argv: Sequence[str] | None = None) -> Path:
    """Run every searcher for every seed into the output folder and write its report there."""
    parser = Parser("netopt-hpo-budget", __doc__)
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="each search once per seed"
    )
    parser.add_argument(
        "--grid", type=int, default=3, help="grid points per axis (k; k^2 trials each search)"
    )
    parser.add_argument("--epochs", type=int, default=9, help="epochs of a full trial (E)")
    parser.add_argument(
        "--searchers",
        nargs="+",
        default=argparse.SUPPRESS,
        help="of grid, random, bayes, hyperband, asha, bohb, pbt (default: all)",
    )
    parser.add_argument(
        "--out", type=Path, default=argparse.SUPPRESS, help="(default: outputs/hpo_budget/<time>)"
    )
    parser.add_argument("overrides", nargs="*", help="netopt-train overrides for every trial")
    args = parser.parse_args(argv)
    if args.grid < 2 or args.epochs < 1:
        parser.error("--grid must be >= 2 and --epochs >= 1")
    out = getattr(args, "out", None) or Path("outputs/hpo_budget", time.strftime("%Y-%m-%d_%H-%M-%S"))
    if out.exists() and any(out.iterdir()):
        parser.error(f"--out {out}: not empty; choose a new folder")
    import torch  # the studies: once the arguments are read

    from netopt.api import fit
    from netopt.components import preflight
    from netopt.studies.hpo_budget import SEARCHERS, compare, trial_configs
    from netopt.studies.hpo_budget_report import report

    searchers = getattr(args, "searchers", SEARCHERS)
    unknown = set(searchers) - set(SEARCHERS)
    if unknown:
        parser.error(f"--searchers: no such searcher {min(unknown)}; choose from {', '.join(SEARCHERS)}")
    torch.set_num_threads(1)
    bases = trial_configs(args.overrides, args.seeds)
    preflight(bases[args.seeds[0]])  # a mistake every trial would repeat: one line, before any trial
    out.mkdir(parents=True, exist_ok=True)
    log = functools.partial(print, flush=True)
    command = shlex.join(["netopt-hpo-budget", *(sys.argv[1:] if argv is None else argv)])
    searches = []
    for seed, base in bases.items():  # a report of the seeds so far after each: a run cut short keeps one
        searches += compare({seed: base}, list(searchers), args.grid, args.epochs, out, fit, log)
        path = report(out, searches, args.grid**2 * args.epochs, command)
    print(f"report: {path}")
    from netopt.report.document import verdict_lines

    for line in verdict_lines(out):
        print(line)
    return path


def main() -> None:
    """The console script: a mistake in the overrides ends in one line and exit status 2."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        run()
    except (UserError, HydraException, OmegaConfBaseException) as error:
        fail("netopt-hpo-budget", str(user_error(error) or error))


if __name__ == "__main__":
    main()
