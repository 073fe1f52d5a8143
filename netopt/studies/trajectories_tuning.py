"""Each optimizer at its own best learning rate: the lr of ``netopt-trajectories`` chosen on a grid.

An optimizer's preset lr suits some functions and not others, so comparing optimizers at one lr
compares learning rates as much as update rules. With ``tune`` set, every optimizer's lr on every
function and gradient-noise level is chosen from the grid ``lr0 * f`` for f in ``tune.factors``
(lr0: its lr of ``lrs``, else its preset's) by the mean over ``tune.seeds`` of the function's
criterion, lower being better:

    the final loss f(p_T)          on a function with a minimum (a path that ran off counts as +inf);
    the escape step                on a function with a saddle point (a path that never escaped
                                   counts as steps + 1).

Ties (e.g. no lr escapes the ridge without noise) go to the factor nearest 1, the preset's lr. The
tuning seeds must differ from the ``seeds`` the claims are judged on, so that no claim is judged on
the paths that picked its lr. The records of the grid (tuning.jsonl) and its figure (tuning.png:
the criterion against the lr, the chosen lr circled) are written beside the report.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from netopt.landscape.toy import Function, Trajectory
from netopt.report.records import RunRecord

#: The file of the grid's records, in the output folder.
TUNING = "tuning.jsonl"
#: The heading of tuning.png in the report.
TUNING_HEADING = (
    "The lr grid: each optimizer's mean criterion over the tuning seeds (final loss; escape step on a "
    "saddle) against its lr, the chosen lr circled"
)
#: Runs one path of the optimizer being tuned: (lr, seed) -> its trajectory.
RunPath = Callable[[float, int], Trajectory]


def criterion(function: Function, path: Trajectory) -> float:
    """The score of one path, lower is better: its final loss on a function with a minimum (+inf when
    it ran off), its escape step on a function with a saddle point (steps + 1 when it never escaped)."""
    if function.saddle is not None:
        return float(path.escape_step if path.escape_step is not None else len(path.path))
    return math.inf if path.left_box else float(path.loss[-1])


def grid(lr0: float, factors: Sequence[float]) -> list[float]:
    """The learning rates tried around ``lr0``."""
    return [lr0 * f for f in factors]


def best(scores: Mapping[float, float], lr0: float) -> float:
    """The lr of the lowest mean score; of tied ones, the one nearest ``lr0`` (log scale)."""
    return min(scores, key=lambda lr: (scores[lr], abs(math.log(lr / lr0))))


def tune(
    function: Function,
    settings: Mapping[str, Any],
    lr0: float,
    tuning: Mapping[str, Any],
    run_path: RunPath,
    out: Path,
) -> tuple[float, list[RunRecord]]:
    """The chosen lr of one optimizer on ``function`` (its paths run by ``run_path``), and the record of
    every grid path: ``settings`` (function, optimizer, noise) and its lr; the metrics criterion,
    final_loss and escape_step."""
    factors, seeds = list(tuning["factors"]), list(tuning["seeds"])
    scores, records = {}, []
    for lr in grid(lr0, factors):
        values = []
        for seed in seeds:
            path = run_path(lr, seed)
            values.append(criterion(function, path))
            metrics = {
                "criterion": values[-1],
                "final_loss": float(path.loss[-1]),
                "escape_step": path.escape_step,
            }
            records.append(RunRecord({**settings, "lr": lr}, metrics, seed=seed, source=out))
        scores[lr] = float(np.mean(values))
    return best(scores, lr0), records


def plot_tuning(
    records: Sequence[RunRecord],
    chosen: Mapping[tuple[str, str, float], float],
    functions: Mapping[str, Function],
    path: Path,
) -> None:
    """tuning.png: a panel per function (columns) and noise level (rows), the mean criterion over the
    tuning seeds against the lr (log scale), a line per optimizer, its chosen lr circled."""
    names = list(dict.fromkeys(r.value("function") for r in records))
    levels = list(dict.fromkeys(r.value("noise") for r in records))
    optimizers = list(dict.fromkeys(r.value("optimizer") for r in records))
    figure = Figure(figsize=(4.2 * len(names), 3.6 * len(levels)), layout="constrained")
    axes = figure.subplots(len(levels), len(names), squeeze=False)
    for row, level in enumerate(levels):
        for column, function in enumerate(names):
            ax = axes[row][column]
            mine = [r for r in records if r.value("function") == function and r.value("noise") == level]
            for i, optimizer in enumerate(optimizers):
                scores: dict[float, list[float]] = {}
                for r in mine:
                    if r.value("optimizer") == optimizer:
                        scores.setdefault(r.value("lr"), []).append(r.metrics["criterion"])
                lrs = sorted(scores)
                means = [float(np.mean(scores[lr])) for lr in lrs]
                ax.plot(lrs, means, "-o", color=f"C{i}", markersize=3, label=optimizer)
                lr = chosen[function, optimizer, level]
                ax.plot([lr], [means[lrs.index(lr)]], "o", color=f"C{i}", markersize=11, fillstyle="none")
            ax.set(xscale="log", xlabel="learning rate", title=f"{function}, gradient noise {level:g}")
            if functions[function].saddle is not None:
                ax.set(ylabel="escape step (steps + 1: never)")
            else:
                ax.set(yscale="log", ylabel="final loss (log)")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
