"""The loss landscape of a finished (or interrupted) run, from its folder (``netopt-landscape``).

Rebuilds the run's model from the config and weights in its ``checkpoint.pt`` and writes into the
folder:

- ``landscape_1d.png`` / ``.csv``: train and test loss along the line from the initial to the final
  weights (Goodfellow et al. 2015; the checkpoint keeps the initial weights);
- ``landscape_2d.png`` / ``.csv``: the loss on a grid over the plane around the final weights
  spanned by two filter-normalized random directions (Li et al. 2018); with ``surface`` also a 3-D
  surface beside the contours (``landscape_2d_surface.png``);

and logs both figures to the run's TensorBoard (``landscape/1d``, ``landscape/2d``), or writes all of
it into ``out`` instead. Both splits are seeded subsets of ``samples`` examples (the same every time),
evaluated in evaluation mode; the loss is that of the model's task (:mod:`netopt.tasks`: an
autoencoder's mean squared error, whose accuracy is NaN).

The arguments are checked before the checkpoint is read (:func:`check`): a grid that cannot fit in
this machine's memory is refused naming its size, and a folder that cannot be written is refused
before any point is evaluated.
"""

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from torch.utils.tensorboard import SummaryWriter

from netopt.checks import require, require_count, require_positive
from netopt.components import assemble, preflight
from netopt.data.batches import num_batches
from netopt.errors import UserError, config_key
from netopt.files import read_checkpoint
from netopt.landscape.plot import plot_interpolation, plot_plane
from netopt.landscape.slices import Slice, interpolation, plane, write_csv
from netopt.probes.base import fixed_batches
from netopt.run.checkpoint import Checkpoint, Snapshot
from netopt.settings import MAX_SEED
from netopt.studies.output import require_writable

#: Memory a point of the plane takes while it is evaluated: its coordinates, and its loss and accuracy
#: on each split, each held as a tensor until the grid is done.
BYTES_PER_POINT = 1024
#: Points of the line from the initial to the final weights (a from -0.25 to 1.25).
LINE_POINTS = 31
#: Called as each point is evaluated: (which slice, points done, points in all).
Progress = Callable[[str, int, int], None]


@dataclass
class Landscape:
    """The slices of a run and the files they were written to."""

    line: Slice
    grid: Slice
    written: list[Path]


def check(run_dir: Path, points: int, span: float, samples: int, seed: int, out: Path) -> None:
    """Refuse arguments that cannot give a landscape, a grid that cannot fit in memory (naming its
    size), and an output folder that cannot be written."""
    require_count(minimum=2, **{"--points": points})
    require_count(**{"--samples": samples})
    require_positive(**{"--span": span})
    require(0 <= seed <= MAX_SEED, "--seed", f"in [0, {MAX_SEED}]", seed)
    needed, memory = points**2 * BYTES_PER_POINT, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if needed > memory:
        most = math.isqrt(memory // BYTES_PER_POINT)
        raise UserError(
            f"--points={points}: the {points} x {points} grid needs about {_size(needed)} of memory, "
            f"more than this machine's {_size(memory)}; at most --points {most}"
        )
    if not (run_dir / "checkpoint.pt").is_file():
        raise UserError(f"RUN_DIR: no checkpoint at {run_dir / 'checkpoint.pt'}")
    where, elsewhere = ("--out", "") if out != run_dir else ("RUN_DIR", "; write elsewhere with --out DIR")
    require_writable(out, where, "; nothing was written" + elsewhere)


def _size(size: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1000
    raise AssertionError


def landscape(
    run_dir: Path,
    points: int,
    span: float,
    samples: int,
    surface: bool,
    seed: int,
    out: Path | None = None,
    progress: Progress | None = None,
) -> Landscape:
    """Compute the 1-D and 2-D slices of the run in ``run_dir`` and write them into ``out`` (default:
    the run's folder), telling ``progress`` of every point evaluated."""
    out = run_dir if out is None else out
    check(run_dir, points, span, samples, seed, out)
    saved = read_checkpoint(run_dir / "checkpoint.pt", key="RUN_DIR")
    if "initial_model" not in saved or "config" not in saved:
        raise UserError(
            f"RUN_DIR={run_dir}: its checkpoint keeps no initial weights (written by an older netopt)"
        )
    cfg = OmegaConf.create(saved["config"])
    settings, dataset, _ = preflight(cfg)
    torch.set_num_threads(settings.num_threads or 1)  # one job, as a single run trains
    with config_key("dataset"):
        data = dataset.load()
    steps = num_batches(len(data.train), settings.batch_size, settings.limit_batches)
    parts = assemble(cfg, settings, data.in_shape, data.num_classes, steps, dataset.val_fraction > 0)
    initial = Snapshot(parts.model)
    Checkpoint(
        run_dir / "checkpoint.pt",
        {},
        {"model": parts.model, "preprocess": parts.preprocess, "initial_model": initial},
    ).restore(saved, "model", "preprocess", "initial_model")
    data = data.map(parts.preprocess)
    splits = {
        name: fixed_batches(split, samples, seed)
        for name, split in (("train", data.train), ("test", data.test))
    }
    tell = progress or (lambda slice_, done, total: None)
    alphas = torch.linspace(-0.25, 1.25, LINE_POINTS, dtype=torch.float64)
    on_line = _counter(tell, "line", LINE_POINTS)
    line = interpolation(parts.model, initial.state, splits, alphas=alphas, task=parts.task, on_point=on_line)
    coordinates = torch.linspace(-span, span, points, dtype=torch.float64)
    grid = plane(
        parts.model,
        splits,
        generator=torch.Generator().manual_seed(seed),
        coordinates=coordinates,
        task=parts.task,
        on_point=_counter(tell, "plane", points**2),
    )
    try:
        return Landscape(line, grid, write(line, grid, out, surface))
    except OSError as error:
        raise UserError(f"{error.filename or out}: cannot write it ({error.strerror or error})") from None


def _counter(progress: Progress, name: str, total: int) -> Callable[[], None]:
    done = 0

    def count() -> None:
        nonlocal done
        done += 1
        progress(name, done, total)

    return count


def write(line: Slice, grid: Slice, out: Path, surface: bool) -> list[Path]:
    """The figures and CSV files of both slices in ``out``, and the figures in its TensorBoard."""
    written = [
        out / name
        for name in ("landscape_1d.png", "landscape_1d.csv", "landscape_2d.png", "landscape_2d.csv")
    ]
    plot_interpolation(line, written[0])
    write_csv(line, written[1])
    plot_plane(grid, written[2])
    write_csv(grid, written[3])
    if surface:
        written.append(out / "landscape_2d_surface.png")
        plot_plane(grid, written[-1], surface=True)
    log_images(out, {"landscape/1d": written[0], "landscape/2d": written[2]})
    return written


def summary(result: Landscape) -> tuple[list[str], list[list[str]]]:
    """The landscape in a few rows: the initial and final weights (the line's ends), the point of
    highest train loss between them, and those of lowest and highest train loss over the plane, each
    with its coordinates and every split's loss and accuracy there."""
    line, grid = result.line, result.grid
    splits = list(line.loss)
    headers = ["point", *(f"{split} {kind}" for split in splits for kind in ("loss", "acc"))]
    alphas = line.axes[0]
    between = ((alphas >= 0) & (alphas <= 1)).nonzero().flatten()
    highest = between[line.loss["train"][between].argmax()]

    def row(label: str, slice_: Slice, index: tuple[int, ...]) -> list[str]:
        values = [f"{float(v[split][index]):.4g}" for split in splits for v in (slice_.loss, slice_.accuracy)]
        return [label, *values]

    def at(a: Slice, flat: int) -> tuple[int, ...]:
        return tuple(int(i) for i in np.unravel_index(flat, a.loss["train"].shape))

    start, end = (int((alphas - target).abs().argmin()) for target in (0.0, 1.0))
    low, high = (at(grid, int(f(grid.loss["train"].flatten()))) for f in (torch.argmin, torch.argmax))
    a, b = grid.axes
    rows = [
        row("initial weights: line a=0", line, (start,)),
        row("final weights: line a=1", line, (end,)),
        row(f"line, highest in between: a={float(alphas[highest]):.2f}", line, (int(highest),)),
        row(f"plane, lowest: a={float(a[low[0]]):.2f}, b={float(b[low[1]]):.2f}", grid, low),
        row(f"plane, highest: a={float(a[high[0]]):.2f}, b={float(b[high[1]]):.2f}", grid, high),
    ]
    return headers, rows


def log_images(folder: Path, images: dict[str, Path]) -> None:
    """Add the PNGs to the TensorBoard of ``folder`` (a new events file beside the run's own)."""
    from PIL import Image

    with SummaryWriter(log_dir=str(folder)) as writer:
        for tag, path in images.items():
            writer.add_image(tag, np.asarray(Image.open(path).convert("RGB")), 0, dataformats="HWC")
