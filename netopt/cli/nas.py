"""``netopt-nas``: a Bayesian search of the MLP's architecture, then the chosen architecture against the
default one at the same budget on test data (:mod:`netopt.studies.nas`), and its report
(:mod:`netopt.studies.nas_report`).

    netopt-nas                                       # 16 trials x 10 epochs, then 2 x 5 runs of 10 epochs
    netopt-nas --trials 4 --epochs 2 --seeds 0 1 trainer.limit_batches=2   # a miniature
    netopt-nas optimizer=adam optimizer.lr=1e-3      # netopt-train overrides for every run

``<out>`` gets search/ (the trials' run folders, journal.jsonl, results.csv, best.yaml), a folder per
architecture and seed, search.png, records.jsonl, report.md, report.html, claims.json and claims.png.
"""

import argparse
import functools
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from netopt.cli.common import Parser, guarded


def run(argv: Sequence[str] | None = None) -> Path:
    """Search, train both architectures on every seed into the output folder and write its report there."""
    parser = Parser("netopt-nas", __doc__)
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="each architecture once per seed"
    )
    parser.add_argument("--trials", type=int, default=16, help="architectures the search trains")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of every run, trial or not")
    parser.add_argument(
        "--search-seed", type=int, default=5, help="the search's seed and its trials' (not one of --seeds)"
    )
    parser.add_argument("--out", type=Path, default=argparse.SUPPRESS, help="(default: outputs/nas/<time>)")
    parser.add_argument("overrides", nargs="*", help="netopt-train overrides for every run")
    arguments = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(arguments)
    if args.trials < 2 or args.epochs < 1:
        parser.error("--trials must be >= 2 and --epochs >= 1")
    if args.search_seed in args.seeds:
        parser.error(f"--search-seed {args.search_seed}: one of --seeds; the chosen trial is not evidence")
    out = getattr(args, "out", None) or Path("outputs/nas", time.strftime("%Y-%m-%d_%H-%M-%S"))
    if out.exists() and any(out.iterdir()):
        parser.error(f"--out {out}: not empty; choose a new folder")
    import torch  # the study: once the arguments are read

    from netopt.api import fit
    from netopt.components import preflight
    from netopt.studies.hpo_budget import trial_configs
    from netopt.studies.nas import DEFAULT, OVERRIDES, chosen, compare, search
    from netopt.studies.nas_report import report

    torch.set_num_threads(1)
    bases = trial_configs([*OVERRIDES, *args.overrides], [args.search_seed, *args.seeds])
    preflight(bases[args.search_seed])  # a mistake every run would repeat: one line, before any run
    out.mkdir(parents=True, exist_ok=True)
    log = functools.partial(print, flush=True)
    trials = search(
        bases.pop(args.search_seed), args.trials, args.epochs, args.search_seed, out / "search", fit, log
    )
    best = chosen(trials)
    log(f"chosen: trial {best.trial}, val_acc {best.objective:.4f}, {best.params}")
    records = compare(bases, {"searched": best.params, "default": DEFAULT}, args.epochs, out, fit, log)
    path = report(out, trials, records, args.epochs, shlex.join(["netopt-nas", *arguments]))
    print(f"report: {path}")
    from netopt.report.document import verdict_lines

    print(*verdict_lines(out), sep="\n")
    return path


def main() -> None:
    """The console script: a mistake in the overrides ends in one line and exit status 2."""
    guarded("netopt-nas", sys.argv[1:], run, "interrupted")


if __name__ == "__main__":
    main()
