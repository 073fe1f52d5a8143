"""The loss landscape of a finished (or interrupted) run, from its folder (``netopt-landscape``).

Rebuilds the run's model from the config and weights in its ``checkpoint.pt`` and writes into the
folder:

- ``landscape_1d.png`` / ``.csv``: train and test loss along the line from the initial to the final
  weights (Goodfellow et al. 2015; the checkpoint keeps the initial weights);
- ``landscape_2d.png`` / ``.csv``: the loss on a grid over the plane around the final weights
  spanned by two filter-normalized random directions (Li et al. 2018); with ``surface`` also a 3-D
  surface beside the contours (``landscape_2d_surface.png``);

and logs both figures to the run's TensorBoard (``landscape/1d``, ``landscape/2d``). Both splits are
seeded subsets of ``samples`` examples (the same every time), evaluated in evaluation mode.
"""

from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from torch.utils.tensorboard import SummaryWriter

from netopt.components import assemble, preflight
from netopt.data.batches import num_batches
from netopt.errors import UserError, config_key
from netopt.files import read_checkpoint
from netopt.landscape.plot import plot_interpolation, plot_plane
from netopt.landscape.slices import interpolation, plane, write_csv
from netopt.probes.base import fixed_batches
from netopt.run.checkpoint import Checkpoint, Snapshot


def landscape(run_dir: Path, points: int, span: float, samples: int, surface: bool, seed: int) -> list[Path]:
    """Compute and write the 1-D and 2-D slices of the run in ``run_dir``; the files written."""
    saved = read_checkpoint(run_dir / "checkpoint.pt", key="RUN_DIR")
    if "initial_model" not in saved or "config" not in saved:
        raise UserError(
            f"RUN_DIR={run_dir}: its checkpoint keeps no initial weights (written by an older netopt)"
        )
    cfg = OmegaConf.create(saved["config"])
    settings, dataset, _ = preflight(cfg)
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
    line = interpolation(parts.model, initial.state, splits)
    coordinates = torch.linspace(-span, span, points, dtype=torch.float64)
    grid = plane(parts.model, splits, generator=torch.Generator().manual_seed(seed), coordinates=coordinates)
    written = [
        run_dir / name
        for name in ("landscape_1d.png", "landscape_1d.csv", "landscape_2d.png", "landscape_2d.csv")
    ]
    plot_interpolation(line, written[0])
    write_csv(line, written[1])
    plot_plane(grid, written[2])
    write_csv(grid, written[3])
    if surface:
        written.append(run_dir / "landscape_2d_surface.png")
        plot_plane(grid, written[-1], surface=True)
    log_images(run_dir, {"landscape/1d": written[0], "landscape/2d": written[2]})
    return written


def log_images(run_dir: Path, images: dict[str, Path]) -> None:
    """Add the PNGs to the run's TensorBoard (a new events file beside the run's own)."""
    from PIL import Image

    with SummaryWriter(log_dir=str(run_dir)) as writer:
        for tag, path in images.items():
            writer.add_image(tag, np.asarray(Image.open(path).convert("RGB")), 0, dataformats="HWC")
