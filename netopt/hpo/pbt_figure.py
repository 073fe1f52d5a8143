"""The figure of a population-based training sweep: ``pbt.png`` in the sweep folder.

One panel per numeric hyperparameter: the value each member trained with, epoch by epoch (a step
line per member; a fork is a dashed line from the donor's value to the member's new one at the
epoch it forks), so the schedules PBT found can be read off; the last panel is the lineage, each
member's row with an arrow from its donor's row at every fork, and the objective each member
reported at the end of each generation.
"""

import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from netopt.hpo.trials import Record


def schedule_figure(records: Sequence[Record], metric: str) -> Figure:
    """The hyperparameters over time and the lineage of the jobs in ``records`` (see the module docstring)."""
    jobs = sorted((r for r in records if r.budget is not None), key=lambda r: (r.trial, r.budget or 0))
    names = [k for k in jobs[0].params if isinstance(jobs[0].params[k], (int, float))] if jobs else []
    fig = Figure(figsize=(9, 2.6 * (len(names) + 1)), layout="constrained")
    axes = fig.subplots(len(names) + 1, 1, sharex=True, squeeze=False)[:, 0]
    members = sorted({r.trial for r in jobs})
    colors = {m: f"C{i % 10}" for i, m in enumerate(members)}
    at = {(r.trial, r.budget): r for r in jobs}
    for ax, name in zip(axes, names, strict=False):
        for m in members:
            start = 0
            for r in (r for r in jobs if r.trial == m):
                assert r.budget is not None
                ax.plot([start, r.budget], [r.params[name]] * 2, color=colors[m], linewidth=1.5)
                donor = at.get((r.parent, start)) if r.parent is not None else None
                if donor is not None:
                    ax.plot([start, start], [donor.params[name], r.params[name]], color="0.5", linestyle="--")
                start = r.budget
        values = [r.params[name] for r in jobs]
        positive = all(v > 0 for v in values)
        ax.set(ylabel=name, yscale="log" if positive and max(values) > 10 * min(values) else "linear")
        ax.grid(alpha=0.3)
    lineage = axes[-1]
    for r in jobs:
        assert r.budget is not None
        good = r.status == "completed" and math.isfinite(r.objective)
        label = f"{r.objective:.3g}" if good else r.status
        lineage.annotate(label, (r.budget, r.trial), fontsize=7, ha="right", va="bottom")
        lineage.plot([r.budget], [r.trial], "o", color=colors[r.trial], markersize=4)
        if r.parent is not None:
            begin = max(
                (b.budget or 0 for b in jobs if b.trial == r.trial and (b.budget or 0) < r.budget), default=0
            )
            lineage.annotate(
                "", (begin, r.trial), (begin, r.parent), arrowprops={"arrowstyle": "->", "color": "0.4"}
            )
    lineage.set(
        xlabel="epoch",
        ylabel="member",
        yticks=members,
        title=f"lineage: an arrow from the donor at each fork; {metric} at the end of each generation",
    )
    axes[0].set_title("the values each member trained with (dashed: a fork from its donor)")
    return fig


def write_schedule_figure(sweep_dir: Path, records: Sequence[Record], metric: str) -> Path:
    """Write ``pbt.png`` into ``sweep_dir``; return its path."""
    path = sweep_dir / "pbt.png"
    schedule_figure(records, metric).savefig(path, dpi=100)
    return path
