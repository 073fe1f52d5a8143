"""Every optimizer preset on the 2-D test functions (``netopt-trajectories``), and its records and report.

Each optimizer of ``optimizers`` runs on each test function of ``functions``
(:mod:`netopt.landscape.toy`), built from its ``conf/optimizer`` preset as the runner builds it, at
each gradient-noise level of ``noise`` (``grad_noise.eta``) and for each of ``seeds``; the
options are those of ``conf/trajectories.yaml``, its presets (``experiment=optimizers_toy``) in
``conf/trajectories/``. Writes a figure per function (a row per noise level), trajectories.csv (every
point of every path), records.jsonl (a record per path) and, from the records, the report with the
``claims`` judged (:mod:`netopt.studies.trajectories_report`).
"""

import copy
import csv
import functools
import shlex
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from netopt.components import make_optimizer
from netopt.errors import UserError
from netopt.landscape.plot import plot_trajectory_rows
from netopt.landscape.toy import FUNCTIONS, Trajectory, trajectory
from netopt.report.claims import Claim
from netopt.report.records import write_records
from netopt.studies.trajectories_report import RECORDS, parse_claims, path_record, write_report

TOY_FUNCTIONS = {f.name: f for f in FUNCTIONS}


def trajectories(overrides: list[str]) -> Path:
    """Run ``netopt-trajectories`` with Hydra ``overrides``; the folder it wrote."""
    cfg, claims, variants = compose_trajectories(overrides)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, records, figures = [], [], {}
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
                records.append(path_record(function, name, lr, noise, seed, path, out))
                points = enumerate(zip(path.path.tolist(), path.loss.tolist(), strict=True))
                rows += [(function.name, name, noise, seed, i, *p, loss) for i, (p, loss) in points]
        plot_trajectory_rows(function, panels, out / f"{function.name}.png")
        figures[f"{function.name}.png"] = f"{function.name}: f = {function.formula}"
    with open(out / "trajectories.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["function", "optimizer", "noise", "seed", "step", "x", "y", "loss"])
        writer.writerows(rows)
    write_records(out / RECORDS, records)
    write_report(out, claims, figures, shlex.join(["netopt-trajectories", *overrides]))
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
