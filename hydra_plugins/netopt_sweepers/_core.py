"""The loop every netopt sweeper runs, and the search space read from Hydra's override grammar.

Each round asks the strategy for jobs, writes them to the journal as pending, launches them through
whatever launcher is configured (each trial in its own folder ``NNN_<values tried>`` of the sweep folder),
and records the outcomes: a job that raised is ``failed`` with its error line, a NaN objective is
``diverged``, and the sweep goes on until more than ``max_failure_rate`` of its finished jobs went
wrong. Re-running the command with the same ``hydra.sweep.dir`` reads the journal, relaunches the
jobs that were cut off (with ``resume_override``, so they continue from their checkpoints) and
continues. results.csv and best.yaml are rewritten after every round; the table is printed at the end.
An asynchronous sweep (``hydra.sweeper.asynchronous=true``; ASHA's, BOHB's and PBT's default) has no
rounds: it keeps ``workers`` jobs running on a :mod:`~hydra_plugins.netopt_sweepers._pool`, and each
job that ends is recorded, and its worker given the strategy's next job, at once.
"""

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.netopt_sweepers._pool import make_pool
from netopt.errors import UserError, config_key, first_line
from netopt.hpo.fork import fork, keep
from netopt.hpo.space import Choice, Dimension, Integer, SearchSpace, Uniform
from netopt.hpo.summary import format_value, overrides, write_summary
from netopt.hpo.trials import Job, Journal, Record, metric_key, outcome
from netopt.labels import bookkeeping, folder_name

log = logging.getLogger(__name__)
DIRECTIONS = ("maximize", "minimize")


def dimension(override: Override) -> Dimension:
    """The search-space dimension of a sweep override (choice, range, interval, tag(log, ...))."""
    name, sweep = override.get_key_element(), override.value()
    log_scale = "log" in getattr(sweep, "tags", ())
    if isinstance(sweep, IntervalSweep):
        assert sweep.start is not None and sweep.end is not None  # interval(a, b) has both
        return Uniform(name, float(sweep.start), float(sweep.end), log=log_scale)
    if isinstance(sweep, RangeSweep):
        start, stop, step = sweep.start, sweep.stop, sweep.step
        if isinstance(start, int) and isinstance(stop, int) and isinstance(step, int):
            last = stop - 1 - (stop - 1 - start) % step
            return Integer(name, start, last, step, log=log_scale)
    if isinstance(sweep, (ChoiceSweep, RangeSweep)):
        return Choice(name, tuple(override.sweep_iterator()))
    raise UserError(f"{override.input_line}: not a sweep this sweeper knows; use choice, range or interval")


def shape(overrides: list[str]) -> tuple[tuple[str, str], ...]:
    """What decides whether a job's overrides compose: each key with its value, where a number
    stands for its type (a search varies numbers, which compose alike) and Hydra's own settings
    (the job's folder) for nothing."""

    def kind(key: str, value: str) -> str:
        if key.startswith("hydra."):
            return ""
        for number in (int, float):
            try:
                number(value)
                return number.__name__
            except ValueError:
                pass
        return value

    pairs = (line.split("=", 1) if "=" in line else (line, "") for line in overrides)
    return tuple((key, kind(key, value)) for key, value in pairs)


def parse_space(overrides: list[Override]) -> tuple[SearchSpace, list[str]]:
    """The search space of the sweep overrides and the fixed overrides passed to every job as is."""
    dimensions, fixed = split_overrides(overrides)
    return SearchSpace(dimensions), fixed


def split_overrides(overrides: list[Override]) -> tuple[list[Dimension], list[str]]:
    """The dimensions of the sweep overrides (a later override of a key replaces an earlier one) and
    the fixed overrides; no search space is built, so an earlier sweep's overrides, which hold no
    dimension when its space came from ``hydra.sweeper.params``, split too."""
    sweeps: dict[str, Dimension] = {}
    fixed: dict[str, str] = {}
    for o in overrides:
        key = o.get_key_element()
        sweeps.pop(key, None)
        fixed.pop(key, None)
        if o.is_sweep_override():
            sweeps[key] = dimension(o)
        else:
            fixed[key] = o.input_line or f"{key}={o.get_value_element_as_str()}"
    return list(sweeps.values()), list(fixed.values())


def settings(fixed: list[str]) -> dict[str, str]:
    """The fixed overrides that shape the runs, as ``{key: value}``."""
    pairs = (line.split("=", 1) for line in fixed if "=" in line)
    return {k.lstrip("+~"): v for k, v in pairs if not bookkeeping(k)}


def changes(before: dict[str, str], now: dict[str, str]) -> str:
    """``key: old -> new; ...`` for every key whose value differs."""
    changed = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
    return "; ".join(f"{k}: {before.get(k, '(unset)')} -> {now.get(k, '(unset)')}" for k in changed)


def check_grid_rerun(sweep_dir: Path, jobs: list[list[str]]) -> None:
    """Refuse a grid sweep run again into ``sweep_dir`` when a job number that ran there before (its
    ``trial.json``) now stands for other settings: the old results would be relabelled, or the new job
    would share the old one's number and be left out of the summary. A re-run lists the earlier jobs
    first, in their order (new values at the end); the settings include the run's length."""
    for path in sorted(sweep_dir.glob("*/trial.json")):
        try:
            earlier = json.loads(path.read_text())
            trial, params = int(earlier["trial"]), dict(earlier["params"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a trial record: the summary reports it
        if trial >= len(jobs):
            continue
        before, now = settings([f"{k}={v}" for k, v in params.items()]), settings(jobs[trial])
        if before != now:
            raise UserError(
                f"hydra.sweep.dir={sweep_dir}: its job {trial} ({path.parent.name}) ran with other settings "
                f"({changes(before, now)}); list the earlier values first and in their order, new ones at "
                "the end, or choose another hydra.sweep.dir"
            )


class SweepLoop:
    """Launch, record and resume the jobs a search strategy asks for (see the module docstring)."""

    def __init__(
        self,
        sweeper: Any,
        params: dict[str, str],
        metric: str,
        direction: str,
        max_failure_rate: float,
        resume_override: str | None,
    ) -> None:
        if direction not in DIRECTIONS:
            raise UserError(f"hydra.sweeper.direction={direction}: must be one of {', '.join(DIRECTIONS)}")
        if metric_key(metric).startswith("test"):
            raise UserError(
                f"hydra.sweeper.metric={metric}: tune on a validation metric, never on the test set"
            )
        if not 0.0 <= max_failure_rate <= 1.0:
            raise UserError(f"hydra.sweeper.max_failure_rate={max_failure_rate}: must be in [0, 1]")
        self.sweeper, self.params, self.metric = sweeper, params, metric
        self.maximize = direction == "maximize"
        self.max_failure_rate, self.resume_override = max_failure_rate, resume_override
        self.launched = 0
        self.returns: list[list[JobReturn]] = []
        self.legal: set[tuple[tuple[str, str], ...]] = set()  # the override shapes that composed

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.config = hydra_context, config
        self.launcher: Launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> list[list[JobReturn]]:
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        lines = [f"{k}={v}" for k, v in self.params.items()] + list(arguments)
        space, self.fixed = parse_space(parser.parse_overrides(lines))
        with config_key("hydra.sweeper"):
            search = self.sweeper.make_search(space, self.maximize)
        self.sweep_dir = Path(self.config.hydra.sweep.dir)
        self.journal = Journal(self.sweep_dir)
        earlier = self.sweep_dir / "multirun.yaml"
        if earlier.exists():
            task = earlier_task(earlier)
            self._check_same_settings(split_overrides(parser.parse_overrides(list(task)))[1])
        records = self._resumed(space)
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, earlier)
        interrupted = [r.job() for r in records if not r.finished]
        if self.sweeper.asynchronous:
            records = self._run_async(search, records, interrupted)
        else:
            if interrupted:
                records = self._run(interrupted, records, resume=True)
            while jobs := search.ask(records):
                records = self._run(jobs, records, resume=False)
        write_summary(self.sweep_dir, records, self.metric, self.maximize, show=True)
        return self.returns

    def _resumed(self, space: SearchSpace) -> list[Record]:
        records = self.journal.read()
        names = {n for r in records for n in r.params}
        if records and names != set(space.names):
            raise UserError(
                f"hydra.sweep.dir={self.sweep_dir}: its journal searched {sorted(names)}, this sweep "
                f"searches {sorted(space.names)}; choose another hydra.sweep.dir"
            )
        if records:
            done = sum(r.finished for r in records)
            log.info(f"Resuming {self.sweep_dir}: {done} jobs done, {len(records) - done} to relaunch")
        return records

    def _check_same_settings(self, earlier: list[str]) -> None:
        """Refuse to continue a sweep whose fixed overrides were others (the runs would not compare)."""
        before, now = settings(earlier), settings(self.fixed)
        if before != now:
            raise UserError(
                f"hydra.sweep.dir={self.sweep_dir}: its trials ran with other fixed settings "
                f"({changes(before, now)}); "
                "use the same ones, or choose another hydra.sweep.dir"
            )

    @staticmethod
    def _subdir(job: Job) -> str:
        return f"{job.trial:03d}_{folder_name(job.params)}"

    def _overrides(self, job: Job, resume: bool) -> list[str]:
        lines = [*self.fixed, *overrides(job.params)]
        lines.append(f"hydra.sweep.subdir={format_value(self._subdir(job))}")
        if job.budget is not None:
            lines.append(f"{self.sweeper.budget_key}={job.budget}")
            if self.sweeper.horizon_key:  # every job lays its schedule over the largest budget
                lines.append(f"{self.sweeper.horizon_key}={self.sweeper.search['max_epochs']}")
        if (resume or job.budget is not None) and self.resume_override:
            lines.append(self.resume_override)
        return lines

    def _validate(self, batch: list[list[str]]) -> None:
        """Hydra's check that each job's config composes (an unknown key or group option fails the
        sweep before it launches), once per shape of overrides (:func:`shape`): a composition takes
        a few hundred milliseconds, and an asynchronous sweep would spend them between a worker's
        jobs, every job."""
        shapes = {shape(overrides): overrides for overrides in batch}
        new = {key: overrides for key, overrides in shapes.items() if key not in self.legal}
        self.sweeper.validate_batch_is_legal(list(new.values()))
        self.legal |= set(new)

    def _run(self, jobs: list[Job], records: list[Record], resume: bool) -> list[Record]:
        """Launch one round of jobs and return every record with their outcomes."""
        batch = [self._overrides(j, resume) for j in jobs]
        self._validate(batch)
        for job in jobs:
            self._fork(job, records, resume)
        self.journal.append([Record.pending(j) for j in jobs])
        returns = list(self.launcher.launch(batch, initial_job_idx=self.launched))
        self.launched += len(batch)
        self.returns.append(returns)
        return self._record(jobs, returns, records)

    def _run_async(self, search: Any, records: list[Record], interrupted: list[Job]) -> list[Record]:
        """Keep every worker of the pool busy: a worker that frees up gets the next job at once, the
        interrupted jobs first (continuing from their checkpoints), then the strategy's first job that
        is not running, asked given every record (the running jobs' pending ones included). Jobs that
        end together are recorded one at a time, each worker refilled right after its job's outcome."""
        pool = make_pool(self.launcher, self.sweeper.workers)
        running: dict[int, Job] = {}
        ended: list[tuple[int, JobReturn]] = []  # ended, not yet recorded
        recorded = False
        try:
            while True:
                while len(running) < pool.workers:
                    resume = bool(interrupted)
                    busy = {j.key for j in running.values()}
                    job = (
                        interrupted.pop(0)
                        if resume
                        else next((j for j in search.ask(records) if j.key not in busy), None)
                    )
                    if job is None:
                        break
                    overrides = self._overrides(job, resume)
                    self._validate([overrides])
                    self._fork(job, records, resume)
                    self.journal.append([Record.pending(job)])
                    records = [r for r in records if r.key != job.key] + [Record.pending(job)]
                    running[self.launched] = job
                    pool.submit(overrides, self.launched)
                    self.launched += 1
                if recorded and not ended:  # after the free workers got their jobs: it takes a while
                    write_summary(self.sweep_dir, records, self.metric, self.maximize)
                if not running:
                    return records
                ended = ended or pool.wait()
                number, ret = ended.pop(0)
                self.returns.append([ret])
                records = self._record([running.pop(number)], [ret], records, pool.workers)
                recorded = True
        finally:
            pool.close()

    def _fork(self, job: Job, records: list[Record], resume: bool) -> None:
        """Start a new job of population-based training from its parent's checkpoint."""
        if job.parent is not None and not resume:
            fork(job, records, self.sweep_dir / self._subdir(job), self.sweeper.checkpoint)

    def _record(
        self, jobs: list[Job], returns: list[JobReturn], records: list[Record], workers: int | None = None
    ) -> list[Record]:
        """Journal the outcomes of ended jobs and return every record; raises when too many jobs went
        wrong. A round rewrites the summary; an asynchronous sweep on ``workers`` workers rewrites it
        itself and judges the failure rate once as many jobs have finished as a round would hold."""
        outcomes = [self._outcome(j, r) for j, r in zip(jobs, returns, strict=True)]
        self.journal.append(outcomes)
        done = {o.key for o in outcomes}
        records = [r for r in records if r.key not in done] + outcomes
        stop = self._failure_rate_error(records, workers or 1)
        if workers is None or stop is not None:
            write_summary(self.sweep_dir, records, self.metric, self.maximize, show=stop is not None)
        if stop is not None:
            raise stop
        return records

    def _outcome(self, job: Job, ret: JobReturn) -> Record:
        value = ret._return_value if ret.status == JobStatus.FAILED else ret.return_value
        try:
            record = outcome(job, value, self.metric)
        except KeyError:
            keys = ", ".join(sorted(value)) if isinstance(value, dict) else type(value).__name__
            raise UserError(
                f"hydra.sweeper.metric={self.metric}: the task's result has no {metric_key(self.metric)} "
                f"(it has: {keys})"
            ) from None
        run_dir = (
            OmegaConf.select(ret.hydra_cfg, "hydra.runtime.output_dir", default="") if ret.hydra_cfg else ""
        )
        if record.status != "completed":
            log.warning(f"trial {job.trial} {record.status}: {record.error}")
        elif self.sweeper.keeps_checkpoints and run_dir:  # before the trial trains on: see fork.keep
            keep(Path(run_dir), self.sweeper.checkpoint, job.budget)
        return replace(record, run_dir=str(run_dir))

    def _failure_rate_error(self, records: list[Record], least: int = 1) -> UserError | None:
        """The error that stops the sweep when too many of its finished jobs (at least ``least``)
        failed or diverged, else None."""
        finished = [r for r in records if r.finished]
        bad = sum(r.status != "completed" for r in finished)
        if len(finished) >= least and bad > self.max_failure_rate * len(finished):
            return UserError(
                f"hydra.sweeper.max_failure_rate={self.max_failure_rate}: {bad} of {len(finished)} jobs "
                f"failed or diverged; sweep stopped, see {self.sweep_dir / 'results.csv'}"
            )
        return None


def earlier_task(path: Path) -> list[str]:
    """The task overrides of an earlier run's multirun.yaml; one that does not parse is a UserError."""
    refused = f"{path}: not a sweep's multirun.yaml (%s); choose another hydra.sweep.dir"
    try:
        task = OmegaConf.select(OmegaConf.load(path), "hydra.overrides.task")
    except Exception as error:  # a YAML error, or a file that is not a mapping
        raise UserError(refused % first_line(error)) from None
    if not (OmegaConf.is_list(task) and all(isinstance(o, str) for o in task)):
        raise UserError(refused % "no list hydra.overrides.task")
    return list(task)
