"""The report's figures, each built as a matplotlib Figure (no pyplot state) from ranked configurations.

- curves: val accuracy and the running train loss against epoch, mean over seeds and the min-max band.
- final: train/val/test accuracy per configuration with 95% intervals (:mod:`netopt.report.stats`).
- sensitivity: the metric against each numeric swept key (the learning-rate U-curve).
- gap: train against test accuracy per configuration (the generalization gap).

Runs that did not complete are marked (x at the end of their curves, a note on their row), never dropped.
The axes of a bounded metric (an accuracy) stay inside its range, as its intervals do.
"""

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import TABLEAU_COLORS
from matplotlib.figure import Figure

from netopt.labels import label
from netopt.metrics import natural_range
from netopt.report.configs import Config
from netopt.report.records import RunRecord
from netopt.report.stats import LEVEL, MIN_SAMPLES, Estimate

#: At most this many configurations (the best) get a curve or a point; the table lists them all.
MAX_LINES = 10
#: At most this many rows in the final-accuracy figure.
MAX_ROWS = 30
#: One color per configuration: tab10's, by name (tab:blue, tab:orange, ...).
PALETTE = list(TABLEAU_COLORS)
SPLITS = {
    "train_acc": ("train", "tab:gray", "o"),
    "val_acc": ("val", "tab:blue", "s"),
    "test_acc": ("test", "tab:orange", "D"),
}
CI = f"{LEVEL:.0%} interval over seeds; fewer than {MIN_SAMPLES} seeds: none"
#: The loss of the curves: epochs.csv's, running over each epoch's batches.
LOSS = "train_loss_running"


def curves(configs: Sequence[Config]) -> Figure | None:
    """Validation accuracy (the running train accuracy when no run has a validation set) and the running
    train loss per epoch; when the configurations take different numbers of steps per epoch (a
    batch-size sweep), also the running train loss against the iteration."""
    shown = [c for c in configs if any(r.epochs for r in c.runs)][:MAX_LINES]
    if not shown:
        return None
    runs = [r for c in shown for r in c.runs]
    has_val = any(np.isfinite(r.epochs.get("val_acc", [])).any() for r in runs)
    acc = "val_acc" if has_val else "train_acc_running"
    per_step = len({r.epochs["step"][0] for r in runs if len(r.epochs.get("step", []))}) > 1
    fig = Figure(figsize=(18 if per_step else 12, 5 + 0.2 * math.ceil(len(shown) / 3)), layout="constrained")
    axes = fig.subplots(1, 3 if per_step else 2)
    acc_ax, loss_ax = axes[0], axes[1]
    for config, color in zip(shown, PALETTE, strict=False):
        for ax, column in ((acc_ax, acc), (loss_ax, LOSS)):
            band(ax, [r.epochs.get(column, np.array([])) for r in config.runs], color)
            _mark_ends(ax, [r for r in config.runs if r.status != "completed"], column, color)
        if per_step:
            steps = max((r.epochs.get("step", np.array([])) for r in config.runs), key=len)
            band(axes[2], [r.epochs.get(LOSS, np.array([])) for r in config.runs], color, steps)
        acc_ax.plot([], [], color=color, label=config.label)
    acc_ax.set(xlabel="epoch", ylabel=acc, title=_title(acc))
    loss_ax.set(xlabel="epoch", ylabel=LOSS, title=_title(LOSS) + " (over the epoch's batches)")
    if per_step:
        axes[2].set(xlabel="iteration (optimizer step)", ylabel=LOSS, title=_title(LOSS) + " per iteration")
    for ax in axes[1:]:
        log_if_decades(ax, "y", [r.epochs.get(LOSS, np.array([])) for r in runs])
    for ax in axes:
        ax.grid(alpha=0.3)
    if any(r.status != "completed" and r.epochs for r in runs):
        acc_ax.plot([], [], "kx", ls="", label="a run that did not complete")
    fig.legend(loc="outside lower center", ncols=3, fontsize="small", frameon=False)
    fig.suptitle(f"Training curves{_of(shown, configs)}\nline: mean over seeds; band: min to max over seeds")
    return fig


def final(configs: Sequence[Config]) -> Figure | None:
    """Final accuracy per configuration, best first, mean and 95% CI of each split."""
    splits = [k for k in SPLITS if any(c.estimate(k).n for c in configs)]
    shown = list(configs[:MAX_ROWS])
    if not splits:
        return None
    fig = Figure(figsize=(10, 1.6 + 0.42 * len(shown)), layout="constrained")
    ax = fig.subplots()
    rows = np.arange(len(shown))[::-1]  # the best on top
    for j, key in enumerate(splits):
        name, color, marker = SPLITS[key]
        est = [c.estimate(key) for c in shown]
        offset = (j - (len(splits) - 1) / 2) * 0.22
        ax.errorbar(
            [e.mean for e in est],
            rows + offset,
            xerr=_errors(est),
            fmt=marker,
            color=color,
            capsize=3,
            label=name,
        )
    for y, config in zip(rows, shown, strict=True):
        if not any(config.estimate(k).n for k in splits):
            ax.annotate(
                f"no completed run ({config.statuses()})",
                (0.01, y),
                xycoords=("axes fraction", "data"),
                va="center",
                color="tab:red",
            )
    ax.set_yticks(rows, [_row_label(c) for c in shown])
    for tick, config in zip(ax.get_yticklabels(), shown, strict=True):
        tick.set_color("black" if config.all_completed else "tab:red")
    ax.set_ylim(-0.7, len(shown) - 0.3)
    ax.set_xlim(*_limits([e for c in shown for k in splits for e in [c.estimate(k)]], (0.0, 1.0)))
    ax.set_xlabel("accuracy")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle(f"Final accuracy per configuration{_of(shown, configs)}\nmean and {CI}")
    return fig


def sensitivity(configs: Sequence[Config], names: dict[str, str], metric: str) -> Figure | None:
    """The metric against every numeric swept key with at least 3 values, one line per value of the
    other swept keys; log x axis when the values span a decade or more."""
    keys = [k for k in names if _numeric(configs, k)]
    if not keys:
        return None
    fig = Figure(figsize=(8 * len(keys), 5), layout="constrained")
    for ax, key in zip(fig.subplots(1, len(keys), squeeze=False)[0], keys, strict=True):
        _sensitivity_panel(ax, configs, names, key, metric)
    fig.suptitle(f"Sensitivity to the swept numbers\nfinal {metric}: mean and {CI}")
    return fig


def gap(configs: Sequence[Config]) -> Figure | None:
    """Train against test accuracy (val when there is no test set) per configuration, with y = x."""
    other = "test_acc" if any(c.estimate("test_acc").n for c in configs) else "val_acc"
    points = [(c, c.estimate("train_acc"), c.estimate(other)) for c in configs[:MAX_LINES]]
    shown = [(c, x, y) for c, x, y in points if x.n and y.n]
    if not shown:
        return None
    fig = Figure(figsize=(12, 6.5), layout="constrained")
    ax = fig.subplots()
    for (config, x, y), color in zip(shown, PALETTE, strict=False):
        ax.errorbar(
            x.mean,
            y.mean,
            xerr=_errors([x]),
            yerr=_errors([y]),
            fmt="o",
            color=color,
            capsize=3,
            label=f"{config.label} (gap {x.mean - y.mean:+.3f})",
        )
    lo, hi = _limits([e for _, x, y in shown for e in (x, y)], (0.0, 1.0))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="no gap (train = test)")
    ax.set(xlim=(lo, hi), ylim=(lo, hi), aspect="equal", xlabel="train_acc", ylabel=other)
    ax.grid(alpha=0.3)
    missing = [c.label for c, x, y in points if not (x.n and y.n)]
    if missing:
        ax.annotate(
            "not shown (no completed run): " + "; ".join(missing),
            (0, -0.12),
            xycoords="axes fraction",
            fontsize="small",
            color="tab:red",
            va="top",
        )
    # a figure legend outside the axes: the constrained layout makes room for labels of any length
    fig.legend(loc="outside right upper", fontsize="small", title=f"gap = train_acc - {other}")
    ax.set_title(
        f"Generalization gap{_of(points, configs)}\nbelow the diagonal: {other} < train_acc; mean and {CI}"
    )
    return fig


def band(ax: Axes, series: list[np.ndarray], color: Any, x: np.ndarray | None = None) -> None:
    """Mean line and min-max band over the runs per epoch, at ``x`` (default: the epoch number),
    leaving out epochs where no run is finite."""
    length = max(map(len, series))
    if length == 0:
        return
    y = np.full((len(series), length), np.nan)
    for i, s in enumerate(series):
        y[i, : len(s)] = s
    y[~np.isfinite(y)] = np.nan
    x = np.arange(1, length + 1) if x is None or len(x) < length else x[:length]
    seen = ~np.isnan(y).all(axis=0)
    epochs, y = x[seen], y[:, seen]
    ax.plot(epochs, np.nanmean(y, axis=0), color=color, marker="." if len(epochs) < 15 else None)
    if len(series) > 1:
        ax.fill_between(epochs, np.nanmin(y, axis=0), np.nanmax(y, axis=0), color=color, alpha=0.18, lw=0)


def _mark_ends(ax: Axes, runs: Sequence[RunRecord], column: str, color: Any) -> None:
    """An x at the last finite point of each run that did not complete."""
    for run in runs:
        y = run.epochs.get(column, np.array([]))
        finite = np.flatnonzero(np.isfinite(y))
        if len(finite):
            ax.plot(finite[-1] + 1, y[finite[-1]], "x", color=color, ms=9, mew=2)


def _sensitivity_panel(
    ax: Axes, configs: Sequence[Config], names: dict[str, str], key: str, metric: str
) -> None:
    others = {k: s for k, s in names.items() if k != key}
    lines: dict[str, list[Config]] = {}
    for c in configs:
        lines.setdefault(label(c.params, others), []).append(c)
    # a line per value of the other keys, unless (as in a random search) there are many or each has one point
    joined = len(lines) <= MAX_LINES and any(len(members) > 1 for members in lines.values())
    if not joined:
        lines = {"": list(configs)}
    for (name, members), color in zip(lines.items(), PALETTE, strict=False):
        members = sorted(members, key=lambda c: float(c.params[key]))
        x = np.array([float(c.params[key]) for c in members])
        est = [c.estimate(metric) for c in members]
        y = np.array([e.mean for e in est])
        ax.errorbar(
            x, y, yerr=_errors(est), fmt="-o" if joined else "o", color=color, capsize=3, label=name or None
        )
        failed = np.isnan(y)
        if failed.any():  # an x on the x axis (an empty unclipped line would upset the layout)
            bottom = np.full(failed.sum(), 0.03)  # just above the x axis
            ax.plot(
                x[failed],
                bottom,
                "x",
                color=color,
                ms=10,
                mew=2,
                transform=ax.get_xaxis_transform(),
                clip_on=False,
            )
    if any(np.isnan(c.estimate(metric).mean) for c in configs):
        ax.plot([], [], "kx", ls="", label="no completed run (at the bottom)")
    values = [float(c.params[key]) for c in configs]
    log_if_decades(ax, "x", [np.array(values)])
    distinct = sorted(set(values))
    if joined and len(distinct) <= 8:  # a grid: tick the swept values
        ax.set_xticks(distinct, [f"{v:.4g}" for v in distinct])
        ax.minorticks_off()
    bounds = natural_range(metric)
    if bounds is not None:
        ax.set_ylim(*_limits([c.estimate(metric) for c in configs], bounds))
    ax.set(xlabel=names[key], ylabel=metric, title=f"against {names[key]}")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")


def _numeric(configs: Sequence[Config], key: str) -> bool:
    try:
        values = {float(c.params[key]) for c in configs}
    except ValueError:
        return False
    return len(values) >= 3 and all(math.isfinite(v) for v in values)


def log_if_decades(ax: Axes, axis: str, series: list[np.ndarray]) -> None:
    values = np.concatenate([np.asarray(s, dtype=float) for s in series] or [np.array([])])
    values = values[np.isfinite(values)]
    if len(values) and values.min() > 0 and values.max() / values.min() >= 10:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def _errors(estimates: Sequence[Estimate]) -> np.ndarray:
    """Error bars from each mean down to its interval's low end and up to its high end (none without one)."""
    return np.array([e.errors for e in estimates]).T.reshape(2, len(estimates))


def _limits(estimates: Sequence[Estimate], bounds: tuple[float, float]) -> tuple[float, float]:
    """Axis limits around the estimates and their intervals, padded, never beyond the metric's bounds."""
    values = [v for e in estimates for v in (e.mean, e.low, e.high) if math.isfinite(v)]
    if not values:
        return bounds
    lo, hi = min(values), max(values)
    pad = max(0.02 * (bounds[1] - bounds[0]), 0.1 * (hi - lo))
    return max(bounds[0], lo - pad), min(bounds[1], hi + pad)


def _row_label(config: Config) -> str:
    return config.label if config.all_completed else f"{config.label}  [{config.statuses()}]"


def _of(shown: Sequence[Any], configs: Sequence[Config]) -> str:
    return f" (best {len(shown)} of {len(configs)} configurations)" if len(shown) < len(configs) else ""


def _title(column: str) -> str:
    """An epochs.csv column in words: ``val accuracy``, ``running train loss``."""
    words = column.removesuffix("_running").replace("_", " ").replace("acc", "accuracy")
    return f"running {words}" if column.endswith("_running") else words
