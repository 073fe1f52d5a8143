"""The quantity a claim is about, over training: TensorBoard scalars of the runs, one figure per pattern.

A preset names the series that carry the evidence of its claims (``hydra.callbacks.summary.series``:
``[optim/effective_lr_median/*]``, ``[act_std/*]``, ...); every scalar tag of the runs' TensorBoard
events that matches a pattern (``fnmatch``) gets a panel, with a line per configuration: the mean
over its seeds and the min-max band, against the optimizer step.
"""

import fnmatch
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from netopt.report.configs import Config
from netopt.report.figures import MAX_LINES, PALETTE, band, log_if_decades
from netopt.report.runs import scalars

#: At most this many panels (matching tags) per figure.
MAX_PANELS = 12


def natural(tag: str) -> list[Any]:
    """The sort key that orders the numbers in a tag as numbers: ``layers.2`` before ``layers.10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", tag)]


def series_figures(configs: Sequence[Config], patterns: Sequence[str]) -> list[tuple[str, Figure]]:
    """A (heading, figure) per pattern that some completed run logged."""
    if not patterns:
        return []
    shown = list(configs)[:MAX_LINES]
    logged = {
        id(run): scalars(run.source, patterns) for c in shown for run in c.runs if run.status == "completed"
    }
    figures = []
    for pattern in patterns:
        matching = {t for found in logged.values() for t in found if fnmatch.fnmatchcase(t, pattern)}
        tags = sorted(matching, key=natural)  # layers.2 before layers.10
        if not tags:
            continue
        tags = tags[:MAX_PANELS]
        cols = min(3, len(tags))
        rows = math.ceil(len(tags) / cols)
        fig = Figure(figsize=(5.5 * cols, 3.6 * rows + 1.0), layout="constrained")
        axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
        for ax, tag in zip(axes, tags, strict=False):
            values = []
            for config, color in zip(shown, PALETTE, strict=False):
                runs = [logged[id(r)][tag] for r in config.runs if tag in logged.get(id(r), {})]
                if runs:
                    steps = max((s for s, _ in runs), key=len)
                    band(ax, [v for _, v in runs], color, steps)
                    values += [v for _, v in runs]
            log_if_decades(ax, "y", values)
            ax.set(title=tag, xlabel="step")
            ax.grid(alpha=0.3)
        for ax in axes[len(tags) :]:
            ax.set_visible(False)
        for config, color in zip(shown, PALETTE, strict=False):
            axes[0].plot([], [], color=color, label=config.label)
        fig.legend(loc="outside lower center", ncols=3, fontsize="small", frameon=False)
        heading = f"{pattern} over training: mean over seeds, band from min to max"
        fig.suptitle(heading)
        figures.append((heading, fig))
    return figures
