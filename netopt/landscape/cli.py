"""The landscape's command lines: ``netopt-landscape RUN_DIR`` and ``netopt-trajectories``.

``netopt-landscape RUN_DIR``: the loss landscape of a finished (or interrupted) run, from its folder.

Rebuilds the run's model from the config and weights in its ``checkpoint.pt`` and writes into the
folder:

- ``landscape_1d.png`` / ``.csv``: train and test loss along the line from the initial to the final
  weights (Goodfellow et al. 2015; the checkpoint keeps the initial weights);
- ``landscape_2d.png`` / ``.csv``: the loss on a grid over the plane around the final weights
  spanned by two filter-normalized random directions (Li et al. 2018); ``--surface`` draws a 3-D
  surface beside the contours (``landscape_2d_surface.png``);

and logs both figures to the run's TensorBoard (``landscape/1d``, ``landscape/2d``). Both splits are
seeded subsets of ``--samples`` examples (the same every time), evaluated in evaluation mode.

    netopt-landscape outputs/runs/<run>                 # 21 x 21 points over [-1, 1]^2
    netopt-landscape outputs/runs/<run> --points 41 --span 0.5 --surface

``netopt-trajectories [OVERRIDES]``: every optimizer of ``optimizers`` on each 2-D test function of
``functions`` (:mod:`netopt.landscape.toy`), each optimizer built from its ``conf/optimizer`` preset
as the runner builds it, at each gradient-noise level of ``noise`` (``grad_noise.eta``) and
for each of ``seeds``; the options are those of ``conf/trajectories.yaml``, its presets
(``experiment=optimizers_toy``) in ``conf/trajectories/``. Writes a figure per function (a row per
noise level), trajectories.csv, summary.json and the report with the ``claims`` checked
(:mod:`netopt.landscape.report`).
"""

import argparse
import copy
import csv
import functools
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch.utils.tensorboard import SummaryWriter

from netopt.checkpoint import Checkpoint, Snapshot, read
from netopt.data.batches import num_batches
from netopt.errors import UserError, config_key, user_error
from netopt.landscape.plot import plot_interpolation, plot_plane, plot_trajectory_rows
from netopt.landscape.probe import fixed_batches
from netopt.landscape.report import Outcome, parse_claims, write_report
from netopt.landscape.slices import interpolation, plane, write_csv
from netopt.landscape.toy import FUNCTIONS, Trajectory, trajectory
from netopt.report.claims import Claim
from netopt.train import build, check, make_optimizer, one_line

TOY_FUNCTIONS = {f.name: f for f in FUNCTIONS}


def landscape(run_dir: Path, points: int, span: float, samples: int, surface: bool, seed: int) -> list[Path]:
    """Compute and write the 1-D and 2-D slices of the run in ``run_dir``; the files written."""
    saved = read(run_dir / "checkpoint.pt", key="RUN_DIR")
    if "initial_model" not in saved or "config" not in saved:
        raise UserError(
            f"RUN_DIR={run_dir}: its checkpoint keeps no initial weights (written by an older netopt)"
        )
    cfg = OmegaConf.create(saved["config"])
    settings, dataset, _ = check(cfg)
    with config_key("dataset"):
        data = dataset.load()
    steps = num_batches(len(data.train), settings.batch_size, settings.limit_batches)
    parts = build(cfg, settings, data.in_shape, data.num_classes, steps, dataset.val_fraction > 0)
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


def trajectories(overrides: list[str]) -> Path:
    """Run ``netopt-trajectories`` with Hydra ``overrides``; the folder it wrote."""
    cfg, claims, variants = compose_trajectories(overrides)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, outcomes, figures = [], [], {}
    for function in (TOY_FUNCTIONS[name] for name in cfg.functions):
        start = cfg.start.get(function.name)
        panels: dict[str, dict[str, list[Trajectory]]] = {}
        for (name, level), variant in variants.items():
            optimizer_cfg = copy.deepcopy(variant)  # each function its own lr
            optimizer_cfg.optimizer.lr = cfg.lrs.get(function.name, {}).get(name, variant.optimizer.lr)
            lr = optimizer_cfg.optimizer.lr
            noise = float(optimizer_cfg.grad_noise.eta)
            row = "" if level is None else f"gradient noise {noise:g}" if noise else "no gradient noise"
            paths = panels.setdefault(row, {}).setdefault(f"{name} (lr={lr:g})", [])
            for seed in cfg.seeds:
                torch.manual_seed(seed)  # the gradient noise draws its generator's seed from it
                path = trajectory(
                    functools.partial(make_optimizer, optimizer_cfg),
                    function,
                    start=None if start is None else list(start),
                    steps=cfg.steps.get(function.name, 100),
                )
                paths.append(path)
                outcomes.append(Outcome.of(function, name, lr, noise, seed, path))
                points = enumerate(zip(path.path.tolist(), path.loss.tolist(), strict=True))
                rows += [(function.name, name, noise, seed, i, *p, loss) for i, (p, loss) in points]
        plot_trajectory_rows(function, panels, out / f"{function.name}.png")
        figures[f"{function.name}.png"] = f"{function.name}: f = {function.formula}"
    with open(out / "trajectories.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["function", "optimizer", "noise", "seed", "step", "x", "y", "loss"])
        writer.writerows(rows)
    (out / "summary.json").write_text(json.dumps([o.as_dict() for o in outcomes], indent=2) + "\n")
    write_report(out, outcomes, claims, figures, shlex.join(["netopt-trajectories", *overrides]))
    return out


def compose_trajectories(
    overrides: list[str],
) -> tuple[DictConfig, list[Claim], dict[tuple[str, Any], DictConfig]]:
    """The config of netopt-trajectories, its claims, and one optimizer config per optimizer and noise
    level (its preset selected, ``grad_noise.eta`` set to the level unless ``noise`` is null),
    keyed by (name, level)."""
    from hydra import compose, initialize

    from netopt import config

    config.register("trajectories")
    with initialize(version_base="1.3", config_path=None):
        cfg = compose("trajectories", overrides=overrides)
        unknown = [name for name in cfg.functions if name not in TOY_FUNCTIONS]
        if unknown:
            raise UserError(
                f"functions: no such function {unknown[0]}; choose from {', '.join(TOY_FUNCTIONS)}"
            )
        for key, example in (("noise", "[0.0,0.1]"), ("seeds", "[0,1,2]")):
            value = cfg[key]
            if not (isinstance(value, ListConfig) or (key == "noise" and value is None)):
                allowed = "a list" + (" or null" if key == "noise" else "")
                raise UserError(f"{key}={value}: must be {allowed}, e.g. {key}={example}")
        claims = parse_claims(OmegaConf.to_container(cfg.claims))  # type: ignore[arg-type]  # a list
        presets = {
            name: compose("trajectories", [*overrides, f"optimizer={name}"]) for name in cfg.optimizers
        }
    levels = [None] if cfg.noise is None else list(cfg.noise)
    variants = {}
    for level in levels:
        for name, preset in presets.items():
            variant = copy.deepcopy(preset)
            if level is not None:
                variant.grad_noise.eta = level
            variants[name, level] = variant
    return cfg, claims, variants


def trajectories_main() -> None:
    """Console entry point of ``netopt-trajectories``."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        out = trajectories(sys.argv[1:])
    except (UserError, HydraException, OmegaConfBaseException) as error:
        cause = user_error(error)
        message = str(cause).strip().splitlines()[0] if cause else one_line(error)
        print(f"netopt-trajectories: error: {message}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"written: {out}")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="netopt-landscape", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder (it holds checkpoint.pt)")
    parser.add_argument("--points", type=int, default=21, help="grid points along each direction")
    parser.add_argument("--span", type=float, default=1.0, help="the grid covers [-span, span]^2")
    parser.add_argument("--samples", type=int, default=2048, help="examples of each split evaluated")
    parser.add_argument("--seed", type=int, default=0, help="seeds the subsets and the directions")
    parser.add_argument("--surface", action="store_true", help="also draw the plane as a 3-D surface")
    args = parser.parse_args()
    start = time.perf_counter()
    try:
        if args.points < 2 or args.samples < 1 or not args.span > 0:
            raise UserError("--points must be >= 2, --samples >= 1 and --span > 0")
        written = landscape(args.run_dir, args.points, args.span, args.samples, args.surface, args.seed)
    except UserError as error:
        print(f"netopt-landscape: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"written in {time.perf_counter() - start:.1f} s: " + ", ".join(str(p) for p in written))


if __name__ == "__main__":
    main()
