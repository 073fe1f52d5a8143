"""The evidence of the claims in one figure (claims.png): a row per claim, on the claim's own scale.

Each row shows the effect left - right of one claim: its estimate and 95% interval (the bar), the
claim's bound (dashed; the verdict is where the bar lies against it), zero (thin), and the samples
behind it, one dot per seed (the paired differences left_s - right_s where both sides share seeds,
else each side's values minus the other side's mean). The colour is the verdict's. A reader sees at a
glance which claims hold by more than their seeds scatter and which rest on one lucky seed.
"""

import math
import textwrap
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from netopt.report.claims import Verdict

COLORS = {
    "holds": "#137333",
    "does not hold": "#b00020",
    "inconclusive": "#8a6d00",
    "by construction": "0.45",
    "undecided": "0.6",
}


def evidence(verdicts: Sequence[Verdict]) -> Figure | None:
    """claims.png: a row per claim with an effect (none: no claims were decided)."""
    shown = [v for v in verdicts if v.effect is not None]
    if not shown:
        return None
    fig = Figure(figsize=(11, 0.3 + 1.15 * len(shown)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(shown), 1, squeeze=False)[:, 0])
    for ax, v in zip(axes, shown, strict=True):
        e, color = v.effect, COLORS[v.verdict]
        assert e is not None
        dots = samples(v)
        ax.scatter(dots, np.zeros_like(dots) + 0.25, s=14, color=color, alpha=0.55, linewidths=0, zorder=3)
        if e.has_interval:
            ax.plot([e.low, e.high], [0, 0], color=color, linewidth=3, solid_capstyle="butt", zorder=2)
        ax.plot([e.mean], [0], "o", color=color, markersize=7, zorder=4)
        ax.axvline(v.claim.bound, color="0.2", linestyle="--", linewidth=1)
        ax.axvline(0.0, color="0.6", linewidth=0.6)
        values = [*dots, e.mean, v.claim.bound, 0.0, *([e.low, e.high] if e.has_interval else [])]
        finite = [x for x in values if math.isfinite(x)]
        pad = 0.08 * ((max(finite) - min(finite)) or 1.0)
        ax.set(xlim=(min(finite) - pad, max(finite) + pad), ylim=(-0.6, 0.8), yticks=[])
        title = textwrap.shorten(v.claim.statement, 120, placeholder="...")
        ax.set_title(f"{v.verdict}: {title}", loc="left", fontsize=9, color=color)
        ax.set_xlabel(f"{v.claim.metric}, left - right ({e.method})", fontsize=8, labelpad=1)
        ax.tick_params(labelsize=8)
        for side in ("left", "right", "top"):
            ax.spines[side].set_visible(False)
    return fig


def samples(v: Verdict) -> np.ndarray:
    """The dots of a claim's row: paired differences per shared seed, else each side's samples against
    the other side's mean (a number on the right: the left samples minus it)."""
    left, right = v.left.samples, v.right.samples
    if v.right.select is None:
        return np.array([x - v.right.value for x in left.values()])
    shared = [s for s in left if s in right]
    if len(shared) >= 2:
        return np.array([left[s] - right[s] for s in shared])
    return np.array(
        [*(x - v.right.value for x in left.values()), *(v.left.value - y for y in right.values())]
    )
