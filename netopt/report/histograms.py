"""Distributions over the layers: the TensorBoard histograms of the runs, as Glorot & Bengio 2010 draw
the activations of each hidden layer (Understanding the Difficulty of Training Deep Feedforward
Neural Networks, their figures of the activation values' normalized histograms).

A preset's ``hydra.callbacks.summary.series`` patterns that match histogram tags (``act_hist/*``,
:mod:`netopt.probes.activation_histograms`) get one figure each: a row per configuration, a column
for the first logged step (at initialization) and one for the last (after training), and in each
panel a curve per tag (layer, darker deeper), the normalized histogram

    p_l[k] = sum_seeds counts_l[k] / sum_seeds sum_j counts_l[j]

the share of layer l's outputs in bin k over the configuration's completed runs (on a log scale in a
panel where one bin holds over :data:`SPIKE` of them).
"""

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from netopt.report.configs import Config
from netopt.report.figures import MAX_LINES
from netopt.report.runs import histograms
from netopt.report.series import natural

#: A panel where one bin holds more than this share (ReLU's zeros, a vanished signal) is drawn on a log
#: scale, so that the rest of the distribution stays visible.
SPIKE = 0.3
#: The columns: the first logged step and the last.
WHEN = ("at initialization (step {step})", "after training (step {step})")


def histogram_figures(configs: Sequence[Config], patterns: Sequence[str]) -> list[tuple[str, Figure]]:
    """A (heading, figure) per pattern that matches histograms some completed run logged; a
    configuration without any (no completed run) gets no row."""
    figures = []
    for pattern in patterns:
        logged = {
            c.label: [histograms(r.source, [pattern]) for r in c.runs if r.status == "completed"]
            for c in list(configs)[:MAX_LINES]
        }
        tags = {
            label: sorted({t for found in runs for t in found}, key=natural) for label, runs in logged.items()
        }
        shown = [label for label, mine in tags.items() if mine]
        if not shown:
            continue
        depth = max(len(tags[label]) for label in shown)
        colors = colormaps["viridis_r"](np.linspace(0.15, 1.0, depth))
        fig = Figure(figsize=(11, 2.9 * len(shown) + 0.8), layout="constrained")
        axes = fig.subplots(len(shown), 2, squeeze=False)
        for row, label in zip(axes, shown, strict=True):
            for column, ax in enumerate(row):
                for tag, color in zip(tags[label], colors, strict=False):
                    step, edges, counts = _pooled(
                        [run[tag] for run in logged[label] if tag in run], column == 0
                    )
                    share = counts / max(counts.sum(), 1.0)
                    ax.plot((edges[:-1] + edges[1:]) / 2, share, color=color, linewidth=1.2)
                    if share.max() > SPIKE:
                        ax.set_yscale("log")
                        ax.set_ylim(bottom=1e-4)
                ax.set(title=f"{label}\n{WHEN[column].format(step=step)}", xlabel="activation value")
                ax.set(ylabel="share of outputs")
                ax.grid(alpha=0.3)
        for i, color in enumerate(colors, 1):
            axes[0][0].plot([], [], color=color, label=f"layer {i}")
        fig.legend(loc="outside lower center", ncols=min(10, depth), fontsize="small", frameon=False)
        heading = (
            f"{pattern}: each layer's normalized histogram (a curve per layer, darker deeper) at "
            "initialization and after training, pooled over seeds; values beyond the range count in "
            f"its end bins, and a panel where one bin holds over {SPIKE:.0%} is on a log scale"
        )
        fig.suptitle(f"{pattern}: the share of each layer's outputs per bin")
        figures.append((heading, fig))
    return figures


def _pooled(
    found: Sequence[Sequence[tuple[int, np.ndarray, np.ndarray]]], first: bool
) -> tuple[int, np.ndarray, np.ndarray]:
    """The step, bin edges and summed counts of each run's first (or last) histogram of a tag; the
    runs' bins are the same (the probe's range and bin count)."""
    picked = [min(run, key=lambda e: e[0]) if first else max(run, key=lambda e: e[0]) for run in found]
    return picked[0][0], picked[0][1], np.sum([counts for _, _, counts in picked], axis=0)
