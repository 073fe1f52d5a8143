"""A search on ``workers`` workers of a simulated clock, each job lasting the time it really took.

``netopt-hpo-budget`` trains its trials one after another in one process (a warm worker: torch and
the data stay loaded, each job's config is composed in process), because the machine it is meant
for has no core to spare per worker. The clock places each job on the worker that a pool of
``workers`` would have given it, and the job lasts there exactly the seconds it took in this
process; a job's outcome reaches the strategy only when it ends on the clock. The strategy thus
decides as it would with real workers whose jobs took those times (a job's outcome does not depend
on when it runs), and each job is trained the moment the clock starts it, so a promotion or a fork
finds the checkpoints as a pool would leave them.

- **rounds** (the sweepers' synchronous mode: grid, random, Bayes, Hyperband): the strategy's next
  ``workers`` jobs start together when the round before has ended, its slowest job included;
- **asynchronous** (ASHA, BOHB, PBT): a worker that frees up gets, at once, the strategy's first job
  that is not running, asked given every ended job's record and a pending record per running job
  (as :class:`hydra_plugins.netopt_sweepers._core.SweepLoop` asks); while it asks for none, the
  worker waits for the next job to end.

A search may stop at a budget of epochs: no job starts that would take the search past it.

Each record's metrics get ``start_s`` and ``end_s`` (on the clock, from the search's start) and
``trial_s`` (the seconds in the run itself, :func:`netopt.api.fit`); the rest of a job's time is the
launcher's per-job overhead (its config, a fork's copy). Over the search,

    idle share = 1 - (sum of trial_s) / (workers x the time its last job ends),

the share of worker-seconds not spent in a trial: waiting at a barrier, or the launcher's overhead.
Its part before the drain (until the last job started) leaves out the end of a search, when one
worker finishes the last job and the other has nothing left to run.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from netopt.hpo.trials import Job, Record

#: A job's launch: the job and the records so far in, its record (with ``trial_s`` in its metrics)
#: and the seconds it took in all out.
Launch = Callable[[Job, list[Record]], tuple[Record, float]]


def run_on_clock(
    search: Any, launch: Launch, workers: int, asynchronous: bool, budget: int | None = None
) -> list[Record]:
    """Every job of search placed on the clock (see the module docstring); the records in the order
    the jobs started."""
    started: list[Record] = []  # in start order, each with its outcome and times
    trained: dict[int, int] = {}  # epochs each trial has been given so far

    def affordable(job: Job) -> bool:
        spent = sum(trained.values()) + max((job.budget or 0) - trained.get(job.trial, 0), 0)
        return budget is None or job.budget is None or spent <= budget

    def start(job: Job, at: float) -> Record:
        visible = [r if r.metrics["end_s"] <= at else Record.pending(r.job()) for r in started]
        record, seconds = launch(job, visible)
        trained[job.trial] = max(trained.get(job.trial, 0), job.budget or 0)
        record = replace(record, metrics={**record.metrics, "start_s": at, "end_s": at + seconds})
        started.append(record)
        return record

    if not asynchronous:
        now = 0.0
        while jobs := search.ask(started)[:workers]:
            ends = []
            for job in jobs:
                if not affordable(job):
                    return started
                ends.append(start(job, now).metrics["end_s"])
            now = max(ends)
        return started
    free = [0.0] * workers  # when each worker is free again
    while True:
        worker = min(range(workers), key=free.__getitem__)
        now = free[worker]
        visible = [r if r.metrics["end_s"] <= now else Record.pending(r.job()) for r in started]
        running = {r.key for r in visible if not r.finished}
        job = next((j for j in search.ask(visible) if j.key not in running), None)
        if job is not None and affordable(job):
            free[worker] = start(job, now).metrics["end_s"]
            continue
        later = [r.metrics["end_s"] for r in started if r.metrics["end_s"] > now]
        if not later:
            return started
        free[worker] = min(later)  # waits for the next job to end


def idle_share(records: Sequence[Record], workers: int, until_drain: bool = False) -> float:
    """1 - (seconds in trials) / (workers x the time the last job ends); NaN without jobs. With
    ``until_drain``, over the time until the last job started instead (after it the search has no
    job left to give a worker that frees up: it drains), each job's run taken as the end of its time."""
    end = max((r.metrics["end_s"] for r in records), default=0.0)
    if until_drain:
        end = max((r.metrics["start_s"] for r in records), default=0.0)
    runs = ((r.metrics["end_s"] - r.metrics.get("trial_s", 0.0), r.metrics["end_s"]) for r in records)
    busy = sum(max(min(stop, end) - start, 0.0) for start, stop in runs)
    return 1.0 - busy / (workers * end) if end > 0 else math.nan


def time_to(records: Sequence[Record], target: float) -> float:
    """When on the clock a job first ended with an objective of at least target; NaN if none did."""
    ends = [r.metrics["end_s"] for r in records if r.status == "completed" and r.objective >= target]
    return min(ends, default=math.nan)
