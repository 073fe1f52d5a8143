"""``netopt-bench [KEY=VALUE ...]``: the optimizer benchmark (:mod:`netopt.bench`), its options those of
``conf/bench.yaml`` (``size=quick``: a few minutes); ``--help`` lists them with their defaults.

Exit status 0 with the scores table and the report's path; 2 with one line on stderr for a mistake (a
key or value, a workload or submission that does not exist, a search space missing, an output folder of
an earlier benchmark with other settings); 130 when interrupted: run it again with the same ``out`` and
the finished trials are kept.
"""

import shlex
import sys
import time
from pathlib import Path
from typing import Any

from netopt.cli.common import guarded, print_table
from netopt.errors import UserError

PROG = "netopt-bench"
#: The settings that shape every trial: an output folder holds one benchmark of them.
SHAPING = ("ruleset", "budget_scale", "overrides")
INTERRUPTED = "interrupted; run it again with the same out= to resume (finished trials are kept)"


def compose_config(overrides: list[str]) -> Any:
    """The config of ``netopt-bench`` with ``overrides``, unchecked."""
    from hydra import compose, initialize
    from hydra.core.global_hydra import GlobalHydra

    from netopt import config

    config.register("bench")
    GlobalHydra.instance().clear()
    with initialize(version_base="1.3", config_path=None):
        return compose("bench", overrides=overrides)


def check(cfg: Any) -> None:
    """Refuse a value no benchmark could run with, before any trial."""
    from omegaconf import ListConfig

    from netopt.bench.suite import RULESETS
    from netopt.checks import require

    require(cfg.ruleset in RULESETS, "ruleset", " or ".join(RULESETS), cfg.ruleset)
    require(cfg.measure in ("time", "steps"), "measure", "time or steps", cfg.measure)
    require(cfg.mode in ("score", "calibrate"), "mode", "score or calibrate", cfg.mode)
    require(0 <= cfg.slack < 1, "slack", "a fraction in [0, 1)", cfg.slack)
    require(isinstance(cfg.trials, int) and cfg.trials >= 1, "trials", "a whole number >= 1", cfg.trials)
    require(isinstance(cfg.jobs, int) and cfg.jobs >= 1, "jobs", "a whole number >= 1", cfg.jobs)
    require(cfg.budget_scale > 0, "budget_scale", "a number > 0", cfg.budget_scale)
    for key in ("workloads", "seeds", "overrides", "launcher_overrides"):
        require(isinstance(cfg[key], ListConfig), key, "a list, e.g. [a,b]", cfg[key])
    require(len(cfg.workloads) > 0, "workloads", "at least one workload", list(cfg.workloads))
    require(
        len(cfg.seeds) > 0 and all(isinstance(s, int) and s >= 0 for s in cfg.seeds),
        "seeds",
        "a list of whole numbers >= 0",
        list(cfg.seeds),
    )
    subs = cfg.submissions
    require(
        subs is None or (isinstance(subs, ListConfig) and len(subs) > 0),
        "submissions",
        "null (every optimizer preset) or a list of presets",
        subs,
    )
    if cfg.mode == "calibrate":
        require(
            subs is not None and len(subs) == 1,
            "submissions",
            "one preset, the baseline, with mode=calibrate",
            subs,
        )
        require(
            cfg.budget_scale == 1,
            "budget_scale",
            "1 with mode=calibrate (the targets are for the workload's budget)",
            cfg.budget_scale,
        )


def run(arguments: list[str]) -> Any:
    """Compose and check the config, run (or resume) every trial, write the report; what it shows
    (:class:`netopt.report.document.Contents`)."""
    from omegaconf import OmegaConf

    from netopt import config

    cfg = compose_config(arguments)
    check(cfg)
    out = Path(cfg.out)
    saved = out / "bench.yaml"
    if saved.exists():
        earlier, now = config.read_yaml(saved.read_text()), config.container(cfg)
        for key in SHAPING:
            if earlier.get(key) != now[key]:
                raise UserError(
                    f"out={out}: holds a benchmark with {key}={earlier.get(key)}, not {now[key]}; "
                    "choose a new folder or the same setting"
                )
    import torch

    from netopt.bench import suite
    from netopt.bench.report import report
    from netopt.bench.runs import read, run_trials
    from netopt.components import preflight
    from netopt.composition import compose

    torch.set_num_threads(1)
    workloads = {name: suite.workload(name) for name in cfg.workloads}
    names = suite.submissions(None if cfg.submissions is None else list(cfg.submissions))
    seeds = list(cfg.seeds)
    trials = suite.trials(list(workloads), names, cfg.ruleset, cfg.trials, seeds)
    overrides = list(cfg.overrides)
    firsts = {t.workload: t for t in reversed(trials)} | {t.submission: t for t in reversed(trials)}
    for t in firsts.values():  # a mistake every trial of a workload or a submission would repeat
        preflight(compose(*workloads[t.workload].overrides(cfg.budget_scale), *t.overrides(), *overrides))
    out.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, saved)
    launcher = [] if cfg.launcher is None else [str(cfg.launcher), *cfg.launcher_overrides]
    results = run_trials(
        trials,
        workloads,
        out,
        overrides,
        cfg.budget_scale,
        cfg.jobs,
        lambda line: print(line, flush=True),
        launcher,
    )
    if cfg.mode == "calibrate":
        workloads = calibrate(out, results, workloads, cfg.slack)
        results = [read(r.trial, workloads[r.trial.workload], out / r.trial.folder) for r in results]
    command = shlex.join([PROG, *arguments])
    return report(out, results, list(workloads.values()), names, seeds, cfg.ruleset, cfg.measure, command)


def calibrate(out: Path, results: Any, workloads: dict[str, Any], slack: float) -> dict[str, Any]:
    """Set every workload's targets from the baseline's results (:mod:`netopt.bench.calibration`): into
    its file in the config tree and ``out/targets.yaml``; the workloads with their new targets."""
    from dataclasses import replace

    from omegaconf import OmegaConf

    from netopt.bench import calibration

    found = {name: calibration.targets(results, w, slack) for name, w in workloads.items()}
    for t in found.values():
        path = calibration.workload_file(t.workload)
        calibration.write(t, path)
        print(
            f"{t.workload}: target {t.target:g}, test_target {t.test_target:g} ({t.how}) -> {path}",
            flush=True,
        )
    OmegaConf.save(
        {name: {"target": t.target, "test_target": t.test_target, "how": t.how} for name, t in found.items()},
        out / "targets.yaml",
    )
    return {
        name: replace(w, target=found[name].target, test_target=found[name].test_target)
        for name, w in workloads.items()
    }


def main(argv: list[str] | None = None) -> None:
    """Console entry point of ``netopt-bench``."""
    arguments = sys.argv[1:] if argv is None else argv
    start = time.perf_counter()
    if "--help" in arguments or "-h" in arguments:
        shown = [a for a in arguments if a not in ("--help", "-h")]
        print(guarded(PROG, shown, lambda: help_text(compose_config(shown)), INTERRUPTED))
        return
    contents = guarded(PROG, arguments, lambda: run(arguments), INTERRUPTED)
    title = f"{contents.folder} ({time.perf_counter() - start:.1f} s)"
    print_table(title, contents.headers, contents.rows, contents.numeric)
    print(f"report: {contents.folder / 'report.html'}")


def help_text(cfg: Any) -> str:
    """``--help``: the command's use, then every option of conf/bench.yaml with its value now."""
    from importlib import resources

    from omegaconf import OmegaConf

    from netopt import config

    text = resources.files(config.CONF_PACKAGE).joinpath("bench.yaml").read_text(encoding="utf-8")
    head = "\n".join(line.removeprefix("# ") for line in text.splitlines() if line.startswith("#"))
    return f"{head}\n\nOptions (conf/bench.yaml), with their values now:\n\n{OmegaConf.to_yaml(cfg)}"


if __name__ == "__main__":
    main()
