"""Every optimizer preset on the 2-D test functions (``netopt-trajectories``), and its records and report.

Each optimizer of ``optimizers`` runs on each test function of ``functions``
(:mod:`netopt.landscape.toy`), built from its ``conf/optimizer`` preset as the runner builds it, at
each gradient-noise level of ``noise`` (``grad_noise.eta``) and for each of ``seeds``, at its lr of
``lrs`` or, with ``tune`` set, at its own best lr of a grid around it, chosen on other seeds
(:mod:`netopt.studies.trajectories_tuning`); the config is composed and checked by
:mod:`netopt.studies.trajectories_config` before any path runs. Writes a figure per function (a row
per noise level), trajectories.csv (every point of every path), records.jsonl (a record per path),
with ``tune`` tuning.jsonl and tuning.png (the grid), and, from the records, the report with the
``claims`` judged (:mod:`netopt.studies.trajectories_report`).
"""

import copy
import csv
import functools
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from netopt.components import make_optimizer
from netopt.landscape.plot import plot_trajectory_rows
from netopt.landscape.toy import FUNCTIONS, Function, Trajectory, trajectory
from netopt.report.claims import Claim
from netopt.report.records import write_records
from netopt.studies.trajectories_config import (
    check,
    chosen,
    compose_config,
    fields_overridden,
    lr_overridden,
    require_vector_optimizer,
    writable,
)
from netopt.studies.trajectories_report import RECORDS, parse_claims, path_record, write_report
from netopt.studies.trajectories_tuning import TUNING, TUNING_HEADING, plot_tuning, tune

TOY_FUNCTIONS = {f.name: f for f in FUNCTIONS}
#: Called as each path is run: (its function, paths of that function done, paths per function).
Progress = Callable[[str, int, int], None]


def trajectories(overrides: list[str], progress: Progress | None = None) -> Path:
    """Run ``netopt-trajectories`` with Hydra ``overrides``, telling ``progress`` of every path run
    (per function); the folder it wrote."""
    cfg, claims, variants = compose_trajectories(overrides)
    lr_set = lr_overridden(overrides)
    out = Path(cfg.out)
    tell = progress or (lambda function, done, total: None)
    tuning = cfg.tune
    grid_paths = 0 if tuning is None else len(tuning.factors) * len(tuning.seeds)
    total = len(variants) * (len(cfg.seeds) + grid_paths)
    rows, records, tuned, figures = [], [], [], {}
    chosen: dict[tuple[str, str, float], float] = {}
    for function in (TOY_FUNCTIONS[name] for name in cfg.functions):
        start = cfg.start.get(function.name)
        run_path = path_runner(function, start, cfg.steps.get(function.name, 100), tell, total)
        panels: dict[str, dict[str, list[Trajectory]]] = {}
        for (name, level), variant in variants.items():
            lr = stepping_optimizer(variant.optimizer).lr
            if not lr_set:
                lr = cfg.lrs.get(function.name, {}).get(name, lr)
            noise = float(variant.grad_noise.eta)
            if tuning is not None:
                settings = {"function": function.name, "optimizer": name, "noise": noise}
                run = functools.partial(run_path, variant)
                lr, grid_records = tune(function, settings, lr, tuning, run, out)
                tuned += grid_records
            chosen[function.name, name, noise] = lr
            row = "" if level is None else f"gradient noise {noise:g}" if noise else "no gradient noise"
            paths = panels.setdefault(row, {}).setdefault(f"{name} (lr={lr:g})", [])
            for seed in cfg.seeds:
                path = run_path(variant, lr, seed)
                paths.append(path)
                records.append(path_record(function, name, lr, noise, seed, path, out))
                points = enumerate(zip(path.path.tolist(), path.loss.tolist(), strict=True))
                rows += [(function.name, name, noise, seed, i, *p, loss) for i, (p, loss) in points]
        plot_trajectory_rows(function, panels, out / f"{function.name}.png")
        figures[f"{function.name}.png"] = f"{function.name}: f = {function.formula}"
    if tuning is not None:
        write_records(out / TUNING, tuned)
        plot_tuning(tuned, chosen, TOY_FUNCTIONS, out / "tuning.png")
        figures["tuning.png"] = TUNING_HEADING
    with open(out / "trajectories.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["function", "optimizer", "noise", "seed", "step", "x", "y", "loss"])
        writer.writerows(rows)
    write_records(out / RECORDS, records)
    write_report(out, claims, figures, shlex.join(["netopt-trajectories", *overrides]))
    return out


def path_runner(
    function: Function, start: Any, steps: int, tell: Progress, total: int
) -> Callable[[DictConfig, float, int], Trajectory]:
    """Runs a path on ``function`` from ``start`` (null: its own) for ``steps`` steps, given the
    optimizer's config (its preset, with the noise level), its lr and the seed; tells ``tell`` of
    each path of the function done."""
    done = 0

    def run(variant: DictConfig, lr: float, seed: int) -> Trajectory:
        nonlocal done
        optimizer_cfg = copy.deepcopy(variant)  # each function its own lr
        stepping_optimizer(optimizer_cfg.optimizer).lr = lr
        torch.manual_seed(seed)  # the gradient noise draws its generator's seed from it
        path = trajectory(
            functools.partial(make_optimizer, optimizer_cfg),
            function,
            start=None if start is None else list(start),
            steps=steps,
        )
        done += 1
        tell(function.name, done, total)
        return path

    return run


def stepping_optimizer(optimizer: DictConfig) -> DictConfig:
    """The config of the optimizer that takes the steps, whose ``lr`` is set: ``optimizer``, or the
    base of a wrapper (``sam``, ``lookahead``)."""
    return optimizer if "base" not in optimizer else stepping_optimizer(optimizer.base)


def compose_trajectories(
    overrides: list[str],
) -> tuple[DictConfig, list[Claim], dict[tuple[str, Any], DictConfig]]:
    """The config of netopt-trajectories (checked, its output folder created), its claims, and one
    optimizer config per optimizer and noise level (its preset selected with its ``fields`` set but
    those of the command line, ``grad_noise.eta`` set to the level unless ``noise`` is null), keyed by
    (name, level)."""
    cfg = compose_config(overrides)
    claims = parse_claims(OmegaConf.to_container(cfg.claims))  # type: ignore[arg-type]  # a list
    check(cfg, list(TOY_FUNCTIONS), lr_overridden(overrides))
    from hydra import compose, initialize

    with initialize(version_base="1.3", config_path=None):
        base = chosen(overrides)
        presets = {name: compose("trajectories", [*base, f"optimizer={name}"]) for name in cfg.optimizers}
    given = fields_overridden(overrides)
    for name, preset in presets.items():
        require_vector_optimizer(name, preset.optimizer)
        for field, value in (cfg.fields.get(name) or {}).items():
            if field not in given:
                OmegaConf.update(preset.optimizer, field, value, merge=False)
    writable(Path(cfg.out))
    levels = [None] if cfg.noise is None else list(cfg.noise)
    variants = {}
    for level in levels:
        for name, preset in presets.items():
            variant = copy.deepcopy(preset)
            if level is not None:
                variant.grad_noise.eta = level
            variants[name, level] = variant
    return cfg, claims, variants
