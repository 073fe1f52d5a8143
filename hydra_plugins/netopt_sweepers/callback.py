"""A Hydra callback that ends every multirun with results.csv, best.yaml, a table of its jobs and the report.

For grid sweeps of Hydra's basic sweeper (and any other sweeper): each job writes ``trial.json``
(its overrides, status, metrics or error line, wall time) into its run folder, and at the end of
the multirun the folders are gathered into the sweep folder's summary. When a netopt sweeper has
written the summary itself during this multirun, the callback leaves it alone. Then it writes the
sweep's report (:func:`netopt.report.write_report`: report.html, report.md, figures, runs.csv and,
with claims, claims.json), ranked by the same metric in the same direction as the summary (the
sweeper's, when a netopt sweeper ran); a report that cannot be written is one warning line, never a
failed sweep.
With keep_going, a job that raised is handed to the sweeper as a result with status ``failed`` (one
line on the terminal, its traceback in the job's log file), so one crashing job no longer ends a
grid sweep. Enable it with::

    hydra:
      callbacks:
        summary:
          _target_: hydra_plugins.netopt_sweepers.callback.SummaryCallback
          metric: val_acc        # key of the metrics dict the task returns: the loop's or a probe's
          direction: null        # maximize or minimize; null: as the metric declares it
          keep_going: true
          claims: []             # checked in the report, see netopt.report.claims
"""

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, cast

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, OmegaConf

log = logging.getLogger(__name__)


class SummaryCallback(Callback):
    """Record each multirun job in ``trial.json`` and summarize the sweep folder at the end."""

    def __init__(
        self,
        metric: str = "val_acc",
        direction: str | None = None,
        keep_going: bool = True,
        claims: Sequence[Any] | None = None,
        series: Sequence[str] | None = None,
    ) -> None:
        self.metric, self.direction, self.keep_going = metric, direction, keep_going
        self.series = None if series is None else [str(s) for s in series]
        self.maximize = direction == "maximize"
        if isinstance(claims, ListConfig):  # plain lists and dicts (a ListConfig converts to a list)
            claims = cast(list[Any], OmegaConf.to_container(claims))
        self.claims = claims
        self.multirun_start = self.job_start = time.time()
        self.objective = (metric, direction)  # what the report ranks by

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.multirun_start = time.time()
        if self.direction is None:
            self.maximize = self.declared_direction(config) != "min"
        self.objective = (self.metric, "maximize" if self.maximize else "minimize")
        sweeper = OmegaConf.select(config, "hydra.sweeper")
        if (
            sweeper is not None
            and OmegaConf.select(sweeper, "metric")
            and OmegaConf.select(sweeper, "direction")
        ):
            self.objective = (str(sweeper.metric), str(sweeper.direction))  # a netopt sweeper's summary

    def declared_direction(self, config: DictConfig) -> str | None:
        """How the metric improves: as the runs declare it in a netopt-train sweep (which
        :class:`PreflightCallback` checks has one), else as its name says (accuracies up, losses down)."""
        from netopt.hpo.trials import metric_key
        from netopt.probes.monitor import natural_direction

        name = metric_key(self.metric)
        if OmegaConf.select(config, "hydra.callbacks.preflight") is None:
            return natural_direction(name)
        return metric_directions(_task(config))[name]

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.job_start = time.time()

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if OmegaConf.select(config, "hydra.mode") != RunMode.MULTIRUN:
            return
        from netopt.cli.train import fail
        from netopt.errors import NoSpace, UserError, user_error
        from netopt.files import write_text
        from netopt.hpo.trials import Job, Record, outcome

        params = _values(config.hydra.overrides.task)
        job = Job(int(config.hydra.job.num), params)
        failed = job_return.status == JobStatus.FAILED
        value = job_return._return_value if failed else job_return.return_value
        try:
            record = outcome(job, value, self.metric)
        except KeyError:  # a result without the metric: no objective to rank by
            record = replace(Record.pending(job), status="completed")
        out = Path(config.hydra.runtime.output_dir)
        wall_time = record.wall_time_s if record.wall_time_s is not None else time.time() - self.job_start
        record = replace(record, run_dir=str(out), wall_time_s=wall_time)
        cause: Exception | None = user_error(value) if failed else None
        try:
            out.mkdir(parents=True, exist_ok=True)  # a job refused before it began left no folder
            write_text(out / "trial.json", json.dumps(asdict(record), default=str))
        except (OSError, UserError) as error:
            cause = cause if isinstance(cause, NoSpace) else error
            if not isinstance(cause, NoSpace):  # a full disk takes no log line either
                log.warning(f"job {job.trial}: no trial.json: {error}")
        if isinstance(cause, NoSpace):  # every job after it would fail alike
            fail(f"error: {cause}; the sweep stopped (free space, then run it again)", 2)
        if failed and self.keep_going:
            log.error(f"job {job.trial} failed: {record.error}")  # one line on the terminal
            to_log_files(f"job {job.trial} failed", value)
            job_return.status = JobStatus.COMPLETED  # the sweeper sees a result, not an exception
            job_return.return_value = {"status": "failed", "error": record.error}

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from netopt.hpo.summary import write_summary
        from netopt.hpo.trials import Record

        sweep_dir = Path(config.hydra.sweep.dir)
        results = sweep_dir / "results.csv"
        # results.csv newer than the multirun's start: a netopt sweeper has summarized the sweep already
        if not (results.exists() and results.stat().st_mtime >= self.multirun_start):
            records = [Record(**json.loads(p.read_text())) for p in sorted(sweep_dir.rglob("trial.json"))]
            if records:
                write_summary(sweep_dir, records, self.metric, self.maximize, show=True)
        self.report(sweep_dir)

    def report(self, sweep_dir: Path) -> None:
        """Write the sweep's report and print where it is; any error is one warning line."""
        from netopt.errors import first_line

        try:
            from netopt.report import write_report

            metric, direction = self.objective
            path = write_report(
                sweep_dir,
                metric=metric.replace("/", "_"),
                claims=self.claims,
                direction=direction,
                series=self.series,
            )
        except Exception as error:  # the report is a convenience: it never fails a finished sweep
            log.warning(f"no report: {first_line(error)}")
            return
        print(f"report: {path}")
        from netopt.report.document import verdict_lines

        for line in verdict_lines(sweep_dir):
            print(line)


def _values(task: Sequence[str]) -> dict[str, Any]:
    """The job's overrides as values, read as Hydra reads them (``trainer.seed=1`` is the number 1),
    so that best.yaml writes them back as the same overrides."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides([o for o in task if "=" in o])
    return {o.get_key_element(): o.value() for o in parsed}


def to_log_files(message: str, error: BaseException) -> None:
    """``message`` with the traceback of ``error`` into the job's log files only (the root logger's
    file handlers), not onto the terminal."""
    record = log.makeRecord(
        log.name, logging.ERROR, __file__, 0, message, (), (type(error), error, error.__traceback__)
    )
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def _task(config: DictConfig) -> DictConfig:
    """The task's config: ``config`` without Hydra's node."""
    from omegaconf import open_dict

    task = config.copy()
    with open_dict(task):
        del task["hydra"]
    return task


def metric_directions(task: DictConfig) -> dict[str, Any]:
    """Every metric a run of ``task`` returns, by name, with its direction (``"max"``, ``"min"`` or
    None): the loop's, its probes' as they declare them, its regularization's measures (a dry build)."""
    from netopt.components import NOMINAL_STEPS_PER_EPOCH, assemble, preflight
    from netopt.probes.monitor import available_metrics

    settings, dataset, _ = preflight(task)
    shape, classes, validation = dataset.in_shape, dataset.num_classes, dataset.val_fraction > 0
    parts = assemble(task, settings, shape, classes, NOMINAL_STEPS_PER_EPOCH, validation)
    final = available_metrics(parts.probes, final=True, task=parts.task)
    return dict.fromkeys(parts.regularization.measures()) | final


BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def grid_jobs(config: DictConfig) -> list[list[str]]:
    """The overrides of each job of a grid sweep (Hydra's basic sweeper), in its order."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    lines = [f"{k}={v}" for k, v in params.items()] + list(config.hydra.overrides.task)
    overrides = OverridesParser.create().parse_overrides(lines)
    return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


class PreflightCallback(Callback):
    """Check a netopt sweep before any of its jobs runs: the config every job shares (one line and
    exit status 2 for a mistake all of them would repeat), that the objective it optimizes is a metric
    the runs return, with a direction (its own, or the one given, which may not contradict it), that
    a validation metric has a validation set, and that it is not one of several processes torchrun
    started (each would run the whole sweep)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydra_plugins.netopt_sweepers._core import check_grid_rerun
        from netopt.checks import require
        from netopt.cli.train import fail
        from netopt.distributed import LAUNCH, launched
        from netopt.errors import UserError
        from netopt.hpo.trials import metric_key

        key = "hydra.sweeper.metric" if OmegaConf.select(config, "hydra.sweeper.metric") else None
        key = key or "hydra.callbacks.summary.metric"
        metric = OmegaConf.select(config, key, default="val_acc")
        direction_key = key.replace(".metric", ".direction")
        direction = OmegaConf.select(config, direction_key, default=None)
        task = _task(config)
        try:
            place = launched()
            if place is not None and place[2] > 1:
                raise UserError(
                    f"hydra.mode=MULTIRUN: started as {place[2]} processes, each would run the whole sweep; "
                    f"run single runs with {LAUNCH}, sweep data-parallel jobs with hydra/launcher=slurm"
                )
            if OmegaConf.select(config, "hydra.sweeper._target_") == BASIC_SWEEPER:
                check_grid_rerun(Path(config.hydra.sweep.dir), grid_jobs(config))
            directions = metric_directions(task)
            if str(metric).startswith("val") and task.dataset.val_fraction == 0:
                raise UserError(
                    f"{key}={metric}: needs a validation set, and dataset.val_fraction=0 leaves none"
                )
            name = metric_key(str(metric))
            require(name in directions, key, f"one of {', '.join(directions)}", metric)
            declared = {"max": "maximize", "min": "minimize", None: None}[directions[name]]
            if declared is None:
                require(direction is not None, direction_key, f"maximize or minimize for {name}", direction)
            else:
                require(direction in (declared, None), direction_key, f"{declared} for {name}", direction)
        except UserError as error:
            fail(f"error: {error}", 2)
