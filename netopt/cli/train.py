"""``netopt-train``: parse the command line, compose the config, run it (:func:`netopt.run.runner.run`).

Exit status of a single run: 0 completed, 2 bad input (config, data, checkpoint or run folder: one
line on stderr naming the key), 3 diverged (NaN/inf loss; metrics.json is written), 130 interrupted
(Ctrl-C; metrics.json says so, the last epoch's checkpoint resumes, or the run starts again
with trainer.resume=true when it had none), 1 anything else (a bug:
traceback). Inside a multirun a diverged run is recorded and the sweep goes on.
"""

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn, cast

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict
from omegaconf.errors import OmegaConfBaseException

from netopt import config
from netopt.composition import compose, error_line
from netopt.console import console, summary_table
from netopt.errors import UserError, user_error

log = logging.getLogger(__name__)

EXIT_USER_ERROR, EXIT_DIVERGED, EXIT_INTERRUPTED = 2, 3, 130
HELP = """netopt-train: train a model with the optimization and regularization methods of Qiu Xipeng's
Neural Networks and Deep Learning, chapter 7.
Usage: netopt-train [GROUP=OPTION ...] [GROUP.FIELD=VALUE ...]   (-m: sweep over comma-separated values)"""
FOOTER = """Run folders go to outputs/; compare them with `tensorboard --logdir outputs`.
Hydra's own options: netopt-train --hydra-help"""


@hydra.main(version_base="1.3", config_path=None, config_name=config.PRIMARY)
def task(cfg: DictConfig) -> dict[str, Any]:
    """The Hydra task: one run in its own folder; returns the metrics (the sweepers' objective).

    A single run ends here on bad input or divergence, with one line and its exit status; inside a
    multirun a diverged run is just recorded, and bad input is raised for the sweeper to record. A run
    that fails once training has begun leaves metrics.json with status ``failed`` and the error's
    first line (in a folder of its own: a resumed run's records stay as they were).
    """
    hydra_cfg = HydraConfig.get()
    single = hydra_cfg.mode == RunMode.RUN
    run_dir = Path(hydra_cfg.runtime.output_dir)
    if single and os.environ.get("RANK", "0") == "0":
        announce(run_dir, hydra_cfg.runtime.choices, hydra_cfg.overrides.task)
    from netopt.distributed import is_main_process  # torch and the components: once a run starts
    from netopt.run.runner import run

    try:
        metrics = run(cfg, run_dir, cast(DictConfig, hydra_cfg), sweep=not single)
    except Exception as error:
        cause = user_error(error)
        if single and cause is not None:
            fail(f"error: {cause}", EXIT_USER_ERROR)
        raise
    if single and is_main_process():
        summary_table(metrics, title=str(run_dir))
    else:  # the sweep ends with a table of all its jobs
        log.info("%s: %s, val_acc %s", run_dir, metrics["status"], metrics["val_acc"])
    if single and metrics["status"] == "diverged":
        fail(f"diverged: the loss became NaN/inf; metrics in {run_dir / 'metrics.json'}", EXIT_DIVERGED)
    return metrics


def announce(run_dir: Path, choices: Any, overrides: Any) -> None:
    """The run's first lines, before anything heavy is imported: its folder, the option chosen in
    each config group, and the overrides typed."""
    order = {group: i for i, group in enumerate(config.primary_groups())}
    groups = sorted((g for g in choices if not g.startswith("hydra")), key=lambda g: order.get(g, len(order)))
    chosen = " ".join(f"{g}={choices[g]}" for g in groups if choices[g] is not None)
    console.print(f"run folder: {run_dir}", highlight=False, soft_wrap=True)
    console.print(f"  options: {chosen}", highlight=False, soft_wrap=True)
    if overrides:
        console.print(f"  set: {' '.join(overrides)}", highlight=False, soft_wrap=True)


def fail(message: str, status: int) -> NoReturn:
    print(f"netopt-train: {message}", file=sys.stderr)
    raise SystemExit(status)


def print_help(arguments: list[str]) -> None:
    """``netopt-train --help``: the groups and their options, then the fields of the chosen ones."""
    overrides = [
        a
        for a in arguments
        if "=" in a and not a.startswith("-") and ("," not in a or a.partition("=")[2].startswith("["))
    ]  # without the sweeps (a,b), with the lists ([a,b]: several options of a group)
    cfg = compose(*overrides, hydra=True)
    choices = dict(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    print(HELP, config.help_text(cfg, choices), FOOTER, sep="\n\n")


def interrupt(signum: int, frame: object) -> None:
    """The first Ctrl-C stops the run; a second one while it records that adds no traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def main() -> None:
    """Console entry point: Hydra's composition errors become one line and exit status 2."""
    config.register()
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.default_int_handler:  # not where SIGINT is ignored (a background job)
        signal.signal(signal.SIGINT, interrupt)
    try:
        _main()
    finally:
        signal.signal(signal.SIGINT, previous)


def _main() -> None:
    show_traceback = os.environ.get("HYDRA_FULL_ERROR") == "1"  # Hydra's own meaning
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let errors reach us instead of Hydra's multi-line report
    try:
        if "--help" in sys.argv[1:] or "-h" in sys.argv[1:]:
            print_help(sys.argv[1:])
        else:
            task()
    except KeyboardInterrupt as stop:  # a run's Interrupted says what its folder kept
        fail(str(stop) or "interrupted", EXIT_INTERRUPTED)
    except UserError as error:  # raised by a sweeper (e.g. too many failed trials)
        fail(f"error: {error}", EXIT_USER_ERROR)
    except (HydraException, OmegaConfBaseException) as error:
        if show_traceback:
            raise
        cause = user_error(error)  # a resolver's own refusal, e.g. the run folder's name
        fail(f"error: {cause or error_line(error)}", EXIT_USER_ERROR)
    except OSError as error:  # a run folder Hydra cannot create, a full disk
        fail(f"error: {error.filename or ''}: {error.strerror or error}", EXIT_USER_ERROR)


if __name__ == "__main__":
    main()
