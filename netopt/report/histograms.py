"""Distributions over the layers: the TensorBoard histograms of the runs, as Glorot & Bengio 2010 draw
the activations of each hidden layer (Understanding the Difficulty of Training Deep Feedforward
Neural Networks, their figures of the activation values' normalized histograms).

A preset's ``hydra.callbacks.summary.series`` patterns that match histogram tags (``act_hist/*``,
:mod:`netopt.probes.activation_histograms`) get one figure each: a row per configuration, a column
for the first logged step (at initialization) and one for the last (after training), and in each
panel a curve per tag (layer, darker deeper), the normalized histogram

    p_l[k] = sum_seeds counts_l[k] / sum_seeds sum_j counts_l[j]

the share of layer l's outputs in bin k over the configuration's completed runs.
"""

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from netopt.report.configs import Config
from netopt.report.figures import MAX_LINES
from netopt.report.runs import histograms
from netopt.report.series import natural

#: The columns: the first logged step and the last.
WHEN = ("at initialization (step {step})", "after training (step {step})")


def histogram_figures(configs: Sequence[Config], patterns: Sequence[str]) -> list[tuple[str, Figure]]:
    """A (heading, figure) per pattern that matches histograms some completed run logged."""
    shown = list(configs)[:MAX_LINES]
    figures = []
    for pattern in patterns:
        logged = {
            c.label: [histograms(r.source, [pattern]) for r in c.runs if r.status == "completed"]
            for c in shown
        }
        tags = sorted({t for runs in logged.values() for found in runs for t in found}, key=natural)
        if not tags:
            continue
        fig = Figure(figsize=(11, 2.9 * len(shown) + 0.8), layout="constrained")
        axes = fig.subplots(len(shown), 2, squeeze=False)
        colors = colormaps["viridis_r"](np.linspace(0.15, 1.0, len(tags)))
        for row, config in zip(axes, shown, strict=True):
            for column, ax in enumerate(row):
                step = None
                for tag, color in zip(tags, colors, strict=True):
                    found = [run[tag] for run in logged[config.label] if tag in run]
                    if not found:
                        continue
                    step, edges, counts = _pooled(found, first=column == 0)
                    centers = (edges[:-1] + edges[1:]) / 2
                    ax.plot(centers, counts / max(counts.sum(), 1.0), color=color, linewidth=1.2)
                when = WHEN[column].format(step=step) if step is not None else ""
                ax.set(title=f"{config.label}\n{when}", xlabel="activation value", ylabel="share of outputs")
                ax.grid(alpha=0.3)
        for tag, color in zip(tags, colors, strict=True):
            axes[0][0].plot([], [], color=color, label=tag.split("/", 1)[-1])
        fig.legend(loc="outside lower center", ncols=min(5, len(tags)), fontsize="small", frameon=False)
        heading = (
            f"{pattern}: each layer's normalized histogram (a curve per layer, darker deeper) at "
            "initialization and after training, pooled over seeds"
        )
        fig.suptitle(heading.split(":")[0] + ": the distribution of each layer's values")
        figures.append((heading, fig))
    return figures


def _pooled(
    found: Sequence[Sequence[tuple[int, np.ndarray, np.ndarray]]], first: bool
) -> tuple[int, np.ndarray, np.ndarray]:
    """The step, bin edges and summed counts of each run's first (or last) histogram of a tag; the
    runs' bins are the same (the probe's range and bin count)."""
    picked = [min(run, key=lambda e: e[0]) if first else max(run, key=lambda e: e[0]) for run in found]
    return picked[0][0], picked[0][1], np.sum([counts for _, _, counts in picked], axis=0)
