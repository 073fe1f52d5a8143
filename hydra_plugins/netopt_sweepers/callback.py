"""A Hydra callback that ends every multirun with results.csv, best.yaml and a table of its jobs.

For grid sweeps of Hydra's basic sweeper (and any other sweeper): each job writes ``trial.json``
(its overrides, status, metrics or error line, wall time) into its run folder, and at the end of
the multirun the folders are gathered into the sweep folder's summary. When a netopt sweeper has
written the summary itself during this multirun, the callback leaves it alone. With keep_going, a
job that raised is handed to the sweeper as a result with status ``failed`` (its traceback goes to
the job's log), so one crashing job no longer ends a grid sweep. Enable it with::

    hydra:
      callbacks:
        summary:
          _target_: hydra_plugins.netopt_sweepers.callback.SummaryCallback
          metric: val_acc        # key of the metrics dict the task returns
          direction: maximize
          keep_going: true
"""

import json
import logging
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


class SummaryCallback(Callback):
    """Record each multirun job in ``trial.json`` and summarize the sweep folder at the end."""

    def __init__(self, metric: str = "val_acc", direction: str = "maximize", keep_going: bool = True) -> None:
        self.metric, self.maximize, self.keep_going = metric, direction == "maximize", keep_going
        self.multirun_start = self.job_start = time.time()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.multirun_start = time.time()

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.job_start = time.time()

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if OmegaConf.select(config, "hydra.mode") != RunMode.MULTIRUN:
            return
        from netopt.hpo.trials import Job, Record, outcome

        params = dict(o.split("=", 1) for o in config.hydra.overrides.task if "=" in o)
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
        (out / "trial.json").write_text(json.dumps(asdict(record), default=str))
        if failed and self.keep_going:
            log.error(f"job {job.trial} failed: {record.error}", exc_info=value)  # into the job's log file
            job_return.status = JobStatus.COMPLETED  # the sweeper sees a result, not an exception
            job_return.return_value = {"status": "failed", "error": record.error}

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from netopt.hpo.summary import write_summary
        from netopt.hpo.trials import Record

        sweep_dir = Path(config.hydra.sweep.dir)
        results = sweep_dir / "results.csv"
        if results.exists() and results.stat().st_mtime >= self.multirun_start:
            return  # a netopt sweeper summarized this sweep already
        records = [Record(**json.loads(p.read_text())) for p in sorted(sweep_dir.rglob("trial.json"))]
        if records:
            write_summary(sweep_dir, records, self.metric, self.maximize, show=True)
