"""The config of ``netopt-trajectories``, composed and checked before any path runs (and without
torch, so that ``--help`` and a mistake answer at once).

The options are those of ``conf/trajectories.yaml``, its presets (``experiment=optimizers_toy``) in
``conf/trajectories/``. Optimizers and functions are chosen as netopt-train chooses an option:
``optimizer=adam``, several as a sweep spells them, ``optimizer=sgd,adam`` (likewise
``function=saddle,sphere``); they set the lists ``optimizers`` and ``functions``.
``optimizer.<field>=<value>`` applies to every optimizer; ``optimizer.lr`` set so wins over the
learning rates of ``lrs``, any field so set over those of ``fields`` (per optimizer, on every
function). The point of a 2-D function is a vector, so an optimizer for weight matrices only (Muon)
is refused (:func:`require_vector_optimizer`).
"""

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, ListConfig

from netopt import config
from netopt.checks import require, require_count
from netopt.errors import UserError
from netopt.settings import MAX_SEED
from netopt.studies.output import require_writable

#: The command line's choices, and the list each one sets.
CHOICES = {"optimizer": "optimizers", "function": "functions"}


def chosen(overrides: Sequence[str]) -> list[str]:
    """``overrides`` with ``optimizer=A[,B...]`` and ``function=A[,B...]`` turned into the lists they
    choose (``optimizers=[A,B]``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    result = []
    for text in overrides:
        (override,) = parser.parse_overrides([text])
        key = override.get_key_element()
        if key not in CHOICES or override.package is not None:
            result.append(text)
            continue
        value = override.value()
        if override.is_sweep_override():
            names = list(override.sweep_string_iterator())
        else:
            names = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        result.append(f"{CHOICES[key]}=[{','.join(names)}]")
    return result


def compose_config(overrides: Sequence[str]) -> DictConfig:
    """The config of ``netopt-trajectories`` with ``overrides`` (:func:`chosen`), unchecked."""
    from hydra import compose, initialize

    config.register("trajectories")
    with initialize(version_base="1.3", config_path=None):
        return compose("trajectories", overrides=chosen(overrides))


def check(cfg: DictConfig, functions: Sequence[str], lr_set: bool) -> None:
    """Refuse a config no path could run (:func:`check_values`, and a function not among
    ``functions``); the output folder is checked last (:func:`writable`), once the optimizers are."""
    check_values(cfg, lr_set)
    unknown = [name for name in cfg.functions if name not in functions]
    if unknown:
        raise UserError(f"functions: no such function {unknown[0]}; choose from {', '.join(functions)}")


def check_values(cfg: DictConfig, lr_set: bool) -> None:
    """Refuse an unknown optimizer, an empty choice, a step count, start point, noise level, learning
    rate or seed out of range (what can be checked without torch)."""
    for key in CHOICES.values():
        names = cfg[key]
        require(isinstance(names, ListConfig) and len(names) > 0, key, "a list of at least one name", names)
    options = config.OPTIONS["optimizer"]
    unknown = [name for name in cfg.optimizers if name not in options]
    if unknown:
        raise UserError(f"optimizer={unknown[0]}: no such option; choose one of {', '.join(sorted(options))}")
    for key, example in (("noise", "[0.0,0.1]"), ("seeds", "[0,1,2]")):
        value = cfg[key]
        if not (isinstance(value, ListConfig) or (key == "noise" and value is None)):
            allowed = "a list" + (" or null" if key == "noise" else "")
            raise UserError(f"{key}={value}: must be {allowed}, e.g. {key}={example}")
    for level in cfg.noise or []:
        require(_finite(level) and level >= 0, "noise", "a list of finite values >= 0", list(cfg.noise))
    _require_seeds("seeds", cfg.seeds)
    check_tune(cfg, lr_set)
    for name in cfg.functions:
        require_count(**{f"steps.{name}": cfg.steps.get(name, 100)})
        start = cfg.start.get(name)
        if start is not None:
            pair = isinstance(start, ListConfig) and len(start) == 2 and all(map(_finite, start))
            require(pair, f"start.{name}", "null or two finite numbers [x,y]", _shown(start))
        if not lr_set:
            for optimizer, lr in (cfg.lrs.get(name) or {}).items():
                require(_finite(lr) and lr > 0, f"lrs.{name}.{optimizer}", "finite and > 0", lr)
    fields = cfg.fields
    require(isinstance(fields, DictConfig), "fields", "a mapping {optimizer: {field: value}}", fields)
    for optimizer, values in fields.items():
        require(isinstance(values, DictConfig), f"fields.{optimizer}", "a mapping {field: value}", values)


def _require_seeds(key: str, seeds: ListConfig) -> None:
    require(len(seeds) > 0, key, "a list of at least one seed", list(seeds))
    for seed in seeds:
        whole = isinstance(seed, int) and not isinstance(seed, bool)
        require(whole and 0 <= seed <= MAX_SEED, key, f"whole numbers in [0, {MAX_SEED}]", list(seeds))


def check_tune(cfg: DictConfig, lr_set: bool) -> None:
    """Refuse a ``tune`` that is not null or {factors, seeds}: factors finite and > 0, tuning seeds
    apart from ``seeds`` (a claim must not be judged on the paths that chose its lr), and no
    ``optimizer.lr`` on the command line (which fixes every lr)."""
    tune = cfg.tune
    if tune is None:
        return
    allowed = "null or {factors: [0.1, 0.3, 1, 3, 10], seeds: [100, 101, 102]}"
    require(isinstance(tune, DictConfig) and set(tune) == {"factors", "seeds"}, "tune", allowed, tune)
    factors = tune.factors
    fine = isinstance(factors, ListConfig) and len(factors) > 0 and all(_finite(f) and f > 0 for f in factors)
    require(fine, "tune.factors", "a list of finite numbers > 0", _shown(factors))
    require(isinstance(tune.seeds, ListConfig), "tune.seeds", "a list of seeds", tune.seeds)
    _require_seeds("tune.seeds", tune.seeds)
    shared = sorted(set(tune.seeds) & set(cfg.seeds))
    require(not shared, "tune.seeds", "seeds apart from `seeds` (the claims' seeds)", list(tune.seeds))
    if lr_set:
        raise UserError("tune: optimizer.lr fixes every lr; set tune=null to run at it, or drop optimizer.lr")


def require_vector_optimizer(name: str, optimizer: DictConfig) -> None:
    """Refuse an optimizer (or the base of a wrapper) that splits the parameters into weight matrices
    and the rest (``optimizer=muon``): the point is a vector of 2, which it would hand to the rest's
    optimizer, so the path would not be its own."""
    while "base" in optimizer:
        optimizer = optimizer.base
    if "hidden" in optimizer and "rest" in optimizer:
        raise UserError(
            f"optimizer={name}: Muon orthogonalizes weight matrices only, and the point of a 2-D function "
            "is a vector of 2 (its preset would step it with AdamW: choose optimizer=adamw for that path)"
        )


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _shown(value: Any) -> Any:
    return list(value) if isinstance(value, ListConfig) else value


def writable(out: Path) -> None:
    """Refuse an output folder that holds files (an earlier run's: the two would mix) or cannot be
    created and written; leave it created and empty."""
    if out.is_dir() and any(out.iterdir()):
        raise UserError(f"out={out}: holds an earlier run's files; choose a new folder")
    require_writable(out, "out")


def fields_overridden(overrides: Sequence[str]) -> set[str]:
    """The fields the command line sets on every optimizer (``optimizer.<field>=``): they win over
    ``lrs`` and ``fields``."""
    keys = (text.split("=", 1)[0].lstrip("+~") for text in overrides)
    return {key.removeprefix("optimizer.") for key in keys if key.startswith("optimizer.")}


def lr_overridden(overrides: Sequence[str]) -> bool:
    """Whether the command line sets ``optimizer.lr`` (then it wins over ``lrs``)."""
    return "lr" in fields_overridden(overrides)


def help_text(cfg: DictConfig) -> str:
    """``--help``: how to choose, then every option of ``conf/trajectories.yaml`` with its default."""
    lines = [
        "netopt-trajectories: the paths of optimizers on 2-D test functions, a figure per function, a",
        "table, records.jsonl and the report (report.md, report.html) with the claims judged.",
        "Usage: netopt-trajectories [KEY=VALUE ...]",
        "",
        "Choose (as netopt-train chooses an option; several separated by commas):",
        f"  optimizer=NAME[,NAME...]   one of {' '.join(sorted(config.OPTIONS['optimizer']))}",
        f"                             (default: {','.join(cfg.optimizers)})",
        f"  function=NAME[,NAME...]    default: {','.join(cfg.functions)}",
        "  experiment=optimizers_toy  noise off and on, 5 seeds, each optimizer at its own best lr, claims",
        "  optimizer.FIELD=VALUE      every optimizer (wins over lrs and fields)",
        "  grad_noise.eta=ETA         gradient noise on every path",
        "",
        "Options (KEY=VALUE; defaults of conf/trajectories.yaml):",
    ]
    defaults = config.container(cfg, resolve=False)
    shown = [(key, defaults[key]) for key in ("steps", "start", "noise", "seeds", "tune", "out", "fields")]
    for key, value in [*shown, *((f"lrs.{name}", lrs) for name, lrs in defaults["lrs"].items())]:
        flow = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=math.inf)
        lines.append(f"  {key}={flow.strip().removesuffix('...').strip()}")
    lines.append("  claims=[...]  checked in the report; see conf/trajectories/optimizers_toy.yaml")
    return "\n".join(lines)
