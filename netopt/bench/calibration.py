"""Setting a workload's targets the AlgoPerf way: the target is what a well-tuned baseline reaches within
the budget (Dahl et al., "Benchmarking Neural Network Training Algorithms", 2023, section on setting
targets: per workload the baseline is tuned, and the target is the median over independent tuning studies
of the best trial's validation result).

Here a study is a seed: for each seed the baseline's best trial (the best validation value within the
budget over its Halton trials), then

    target = median over seeds of those values, loosened by ``slack``: v * (1 - slack) for a metric that
             improves upward, v * (1 + slack) for one that improves downward;
    test_target = the same of the test metric those best trials end with,

each rounded to four significant digits towards the easier side, so the median study still reaches it.
:func:`write` puts them into ``conf/bench/workload/<name>.yaml`` with a comment saying how they were set.
"""

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from netopt import config
from netopt.bench.runs import Result
from netopt.bench.suite import BENCH, Workload
from netopt.errors import UserError
from netopt.files import write_text

DIGITS = 4


@dataclass(frozen=True)
class Targets:
    """A workload's calibrated targets and how they were set."""

    workload: str
    target: float
    test_target: float
    how: str


def targets(results: Sequence[Result], w: Workload, slack: float) -> Targets:
    """The targets of workload ``w`` from the baseline's ``results`` (see the module docstring)."""
    best: dict[int, Result] = {}
    better = (lambda a, b: a > b) if w.maximize else (lambda a, b: a < b)
    for r in results:
        if r.trial.workload == w.name and math.isfinite(r.best):
            seed = r.trial.seed
            if seed not in best or better(r.best, best[seed].best):
                best[seed] = r
    if not best:
        raise UserError(f"mode=calibrate: no trial of the baseline on {w.name} has a finite {w.metric}")
    factor = 1 - slack if w.maximize else 1 + slack
    value = float(np.median([r.best for r in best.values()])) * factor
    test = float(np.median([r.test for r in best.values()])) * factor
    submissions = sorted({r.trial.submission for r in best.values()})
    trials = max(r.trial.index for r in results if r.trial.workload == w.name)
    how = (
        f"calibrated: median over seeds {sorted(best)} of {', '.join(submissions)}'s best of "
        f"{max(trials, 1)} trial(s) within {w.budget} steps, slack {slack:g}"
    )
    return Targets(w.name, easier(value, w.maximize), easier(test, w.maximize), how)


def easier(value: float, maximize: bool) -> float:
    """``value`` to :data:`DIGITS` significant digits, rounded down for a metric that improves upward and
    up for one that improves downward."""
    if not math.isfinite(value) or value == 0:
        return value
    scale = 10.0 ** (DIGITS - 1 - math.floor(math.log10(abs(value))))
    rounded = (math.floor if maximize else math.ceil)(round(value * scale, 6)) / scale
    return float(f"{rounded:.{DIGITS}g}")


def workload_file(name: str) -> Path:
    """The file of workload ``name`` in the config tree."""
    return Path(str(resources.files(config.CONF_PACKAGE).joinpath(BENCH, "workload", f"{name}.yaml")))


def write(t: Targets, path: Path) -> None:
    """Replace the ``target:`` and ``test_target:`` lines of a workload file with ``t``'s (the rest kept)."""
    text = path.read_text(encoding="utf-8")
    for key, value in (("target", t.target), ("test_target", t.test_target)):
        line = f"{key}: {value:g}   # {t.how}" if key == "target" else f"{key}: {value:g}"
        text, count = re.subn(rf"^{key}:.*$", line, text, count=1, flags=re.MULTILINE)
        if not count:
            text += line + "\n"
    write_text(path, text)
