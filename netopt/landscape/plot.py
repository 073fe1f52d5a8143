"""Figures of the landscape instruments: loss slices and optimizer trajectories.

Drawn on ``matplotlib.figure.Figure`` objects and written as PNG without pyplot, so nothing here
touches the caller's matplotlib backend or global state.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from netopt.landscape.slices import Slice
from netopt.landscape.toy import Function, Trajectory

_DPI = 100


def _save(figure: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=_DPI)


def plot_interpolation(result: Slice, path: Path) -> None:
    """``landscape_1d.png``: the loss of every split along theta(a) (log scale) and its accuracy
    (right axis; none for a task without classes), with the initial (a = 0) and final (a = 1) weights
    marked."""
    figure = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = figure.add_subplot()
    accuracy_ax = ax.twinx()
    (alphas,) = result.axes
    for i, split in enumerate(result.loss):
        color = f"C{i}"
        ax.plot(alphas, result.loss[split], color=color, linewidth=2, label=f"{split} loss")
        if result.accuracy[split].isfinite().any():
            accuracy_ax.plot(
                alphas,
                result.accuracy[split],
                color=color,
                linestyle="--",
                alpha=0.6,
                label=f"{split} accuracy",
            )
    for a, name in ((0.0, "initial θ₀"), (1.0, "final θ₁")):
        ax.axvline(a, color="0.4", linestyle=":", linewidth=1)
        ax.annotate(
            name,
            (a, 0.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, 4),
            textcoords="offset points",
            fontsize=9,
            color="0.3",
        )
    ax.set(
        yscale="log",
        xlabel="a   (θ = (1 − a) θ₀ + a θ₁)",
        ylabel="loss (log scale)",
        title="Loss along the line from the initial to the final weights",
    )
    accuracy_ax.set(ylabel="accuracy", ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    lines = ax.get_legend_handles_labels()
    more = accuracy_ax.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="center left", fontsize=9)
    _save(figure, path)


def plot_plane(result: Slice, path: Path, split: str = "train", surface: bool = False) -> None:
    """``landscape_2d.png``: contours of the loss of ``split`` over the plane theta* + a delta + b eta,
    at log-spaced labelled levels, with theta* (a = b = 0) marked; ``surface`` draws it as a 3-D
    surface of log10 loss instead."""
    a, b = np.meshgrid(*(axis.numpy() for axis in result.axes), indexing="ij")
    loss = result.loss[split].numpy()
    figure = Figure(figsize=(7, 6) if surface else (6.5, 5.5), layout="constrained")
    ax = (_surface if surface else _contours)(figure, a, b, loss, split)
    ax.set_title(
        f"{split.capitalize()} loss around the final weights θ*\n(filter-normalized random directions)"
    )
    _save(figure, path)


def _contours(figure: Figure, a: np.ndarray, b: np.ndarray, loss: np.ndarray, split: str) -> Axes:
    ax = figure.add_subplot()
    levels = np.geomspace(loss.min() * 1.02, loss.max(), 12)
    filled = ax.contourf(a, b, loss, levels=levels, norm=LogNorm(), cmap="viridis", alpha=0.85)
    lines = ax.contour(a, b, loss, levels=levels, colors="white", linewidths=0.7)
    ax.clabel(lines, np.asarray(lines.levels)[::2], fmt="%.2g", fontsize=8)  # an array, typed Iterable
    figure.colorbar(filled, ax=ax, label=f"{split} loss", format="%.2g")
    ax.plot(0, 0, marker="*", markersize=14, color="red", markeredgecolor="white")
    ax.annotate("θ*", (0, 0), xytext=(6, 6), textcoords="offset points", color="white", fontsize=11)
    ax.set(xlabel="a (along δ)", ylabel="b (along η)", aspect="equal")
    return ax


def _surface(figure: Figure, a: np.ndarray, b: np.ndarray, loss: np.ndarray, split: str) -> Axes:
    ax = figure.add_subplot(projection="3d")
    ax.plot_surface(a, b, np.log10(loss), cmap="viridis", linewidth=0)
    for axis, label in ((ax.xaxis, "a (along δ)"), (ax.yaxis, "b (along η)")):
        axis.set_major_locator(MaxNLocator(5))
        axis.set_label_text(label)
        axis.labelpad = 8
    ax.set_zlabel(f"log10 {split} loss", labelpad=8)
    ax.view_init(elev=35, azim=-60)
    return ax


def plot_trajectory_rows(
    function: Function, rows: Mapping[str, Mapping[str, Sequence[Trajectory]]], path: Path
) -> None:
    """One figure per test function, a row per setting (its title, e.g. without and with gradient
    noise): the contours with every optimizer's paths (start, minimum and saddle point marked; a path
    that ran off ends in a cross at its last point in view) and f against the step. An optimizer's
    first path (seed) is drawn solid, its others thin and translucent; its legend entry says how many
    escaped the saddle point, and when.

    The view is clipped to the function's window. With a minimum, contours and the loss panel are on
    a log scale of f - f_min; an unbounded function gets symmetric contours and a symlog loss axis.
    """
    figure = Figure(figsize=(13, 5.5 * len(rows)), layout="constrained")
    axes = figure.subplots(len(rows), 2, width_ratios=[1.15, 1], squeeze=False)
    for (title, trajectories), (contour_ax, loss_ax) in zip(rows.items(), axes, strict=True):
        _trajectory_row(function, trajectories, title, contour_ax, loss_ax)
    _save(figure, path)


def _trajectory_row(
    function: Function,
    trajectories: Mapping[str, Sequence[Trajectory]],
    title: str,
    contour_ax: Axes,
    loss_ax: Axes,
) -> None:
    floor = _function_contours(contour_ax, function)
    for i, (name, results) in enumerate(trajectories.items()):
        outcome = _outcome(function, results)
        label, color = f"{name}, {outcome}" if outcome else name, f"C{i}"
        for j, result in enumerate(results):
            points = result.path.numpy()
            style: dict[str, Any] = dict(color=color, linewidth=0.8 if j else 1.6, alpha=0.4 if j else 1.0)
            contour_ax.plot(points[:, 0], points[:, 1], **style, label=label if j == 0 else None, zorder=3)
            loss_ax.plot(result.loss.numpy() - floor, **style, label=label if j == 0 else None)
            inside = _inside(points, function.window)
            if result.left_box and inside.any():
                _mark(contour_ax, points[np.flatnonzero(inside)[-1]], "X", 10, color, None)
    starts = {tuple(result.path[0].tolist()) for results in trajectories.values() for result in results}
    for start in starts:
        _mark(contour_ax, start, "o", 9, "black", None)
        contour_ax.annotate("start", start, xytext=(8, -4), textcoords="offset points", fontsize=9)
    contour_ax.legend(loc="best", fontsize=9, framealpha=0.85)
    if title:
        contour_ax.set_title(f"{contour_ax.get_title()}\n{title}")
    if function.minimum is not None:
        loss_ax.set(yscale="log", ylabel="f − f_min (log scale)")
    else:
        loss_ax.set_yscale("symlog", linthresh=1e-2)
        loss_ax.set(ylabel="f (symlog scale)")
    loss_ax.set(xlabel="step", title="Loss against step" + (f"\n{title}" if title else ""))
    loss_ax.grid(alpha=0.3)
    loss_ax.legend(fontsize=9)


def _outcome(function: Function, results: Sequence[Trajectory]) -> str:
    """What the paths of one optimizer did, for its legend entry: whether (and when) they escaped
    the saddle point; on a function without one, whether they ran off."""
    if function.saddle is not None:
        steps = [r.escape_step for r in results if r.escape_step is not None]
        if len(results) == 1:
            return f"escaped at step {steps[0]}" if steps else "stayed"
        low, high = min(steps, default=0), max(steps, default=0)
        shown = "" if not steps else f", step {low}" if low == high else f", steps {low}–{high}"
        return f"escaped {len(steps)}/{len(results)}{shown}"
    ran_off = sum(r.left_box for r in results)
    if not ran_off:
        return ""
    return "ran off" if len(results) == 1 else f"ran off {ran_off}/{len(results)}"


def _function_contours(ax: Axes, function: Function) -> float:
    """Contours of ``function`` over its window (log levels of f - f_min when it has a minimum,
    symmetric linear ones otherwise), its minimum and saddle point marked; returns f_min (or 0)."""
    (x0, x1), (y0, y1) = function.window
    x, y = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    values = function(torch.from_numpy(np.stack([x, y], -1))).numpy()
    floor = 0.0
    if function.minimum is not None:
        floor = function(torch.tensor(function.minimum)).item()
        values = values - floor
        levels = np.geomspace(max(np.percentile(values, 0.5), 1e-3), values.max(), 14)
        style: dict[str, Any] = dict(levels=levels, norm=LogNorm())
        ax.contourf(x, y, values, **style, cmap="Greys_r", alpha=0.35, extend="both")
        _mark(ax, function.minimum, "*", 16, "gold", "minimum")
    else:
        bound = np.abs(values).max()
        style = dict(levels=np.linspace(-bound, bound, 21))
        ax.contourf(x, y, values, **style, cmap="RdBu_r", alpha=0.35)
    ax.contour(x, y, values, **style, colors="0.5", linewidths=0.6)
    if function.saddle is not None:
        _mark(ax, function.saddle, "D", 9, "white", "saddle point")
    ax.set(xlim=(x0, x1), ylim=(y0, y1), aspect="equal", xlabel="x", ylabel="y")
    ax.set_title(f"{function.name}: f = {function.formula}")
    return floor


def _mark(ax: Axes, point: Sequence[float], marker: str, size: float, color: str, label: str | None) -> None:
    ax.plot(
        *point, marker=marker, markersize=size, color=color, markeredgecolor="black", label=label, zorder=5
    )


def _inside(points: np.ndarray, window: tuple[tuple[float, float], tuple[float, float]]) -> np.ndarray:
    """Whether each point (row) lies in the plot window."""
    (x0, x1), (y0, y1) = window
    return (points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)
