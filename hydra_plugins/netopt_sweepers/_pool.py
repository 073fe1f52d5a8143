"""A pool of workers for asynchronous sweeps: a worker that frees up gets the next job at once.

Hydra's ``Launcher.launch`` takes a batch and returns when every job of it has ended, so a sweep
that launches rounds waits for each round's slowest job. A pool takes one job at a time instead and
reports each one as it ends:

- joblib: the launcher's own job function (``execute_job``, which runs Hydra's ``run_job`` with the
  job's callbacks) on loky's reusable process pool of ``n_jobs`` workers, each worker's threads
  capped at cores / n_jobs as joblib caps them. The workers are warm: each gets the sweep's Hydra
  context, config, task function and singletons once, when it starts; a job sends only its number
  and overrides (the launcher's batches pickle all of it with every job);
- submitit (local, SLURM): each job is a batch of one, launched by the launcher in a thread of its
  own that polls the submitted job until it ends;
- any other launcher (Hydra's basic one runs jobs in this process): one job after another.
"""

import concurrent.futures as futures
from collections.abc import Sequence
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher


class Pool:
    """Runs each submitted job on one of ``workers`` workers; :meth:`wait` returns the jobs that ended."""

    def __init__(self, launcher: Launcher, workers: int) -> None:
        self.launcher, self.workers = launcher, workers
        self.running: dict[futures.Future, int] = {}

    def submit(self, overrides: Sequence[str], idx: int) -> None:
        """Start job number ``idx``; a free worker runs it at once."""
        self.running[self._start(list(overrides), idx)] = idx

    def wait(self) -> list[tuple[int, JobReturn]]:
        """(number, result) of the jobs that ended, waiting for at least one; raises what a job's
        launch raised (an interrupted job, a launcher error)."""
        done, _ = futures.wait(list(self.running), return_when=futures.FIRST_COMPLETED)
        return [(self.running.pop(f), f.result()) for f in done]

    def close(self) -> None:
        """Cancel the jobs that have not started; running ones are not waited for."""
        for future in self.running:
            future.cancel()

    def _start(self, overrides: list[str], idx: int) -> futures.Future:
        raise NotImplementedError

    def _launch_one(self, overrides: list[str], idx: int) -> JobReturn:
        return self.launcher.launch([overrides], initial_job_idx=idx)[0]


class InlinePool(Pool):
    """One job after another in this process: a job runs when it is submitted."""

    def __init__(self, launcher: Launcher, workers: int) -> None:
        super().__init__(launcher, 1)

    def _start(self, overrides: list[str], idx: int) -> futures.Future:
        future: futures.Future = futures.Future()
        future.set_result(self._launch_one(overrides, idx))
        return future


class ThreadPool(Pool):
    """Each job a batch of one of the launcher's, in a thread that waits for it (submitit polls)."""

    def __init__(self, launcher: Launcher, workers: int) -> None:
        super().__init__(launcher, workers)
        self.executor = futures.ThreadPoolExecutor(workers)

    def _start(self, overrides: list[str], idx: int) -> futures.Future:
        return self.executor.submit(self._launch_one, overrides, idx)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


class JoblibPool(Pool):
    """The joblib launcher's job function on loky's process pool (see the module docstring)."""

    def __init__(self, launcher: Launcher, workers: int) -> None:
        from joblib._parallel_backends import LokyBackend
        from joblib.executor import get_memmapping_executor

        super().__init__(launcher, workers)
        env = LokyBackend()._prepare_worker_env(n_jobs=workers)  # threads: cores / n_jobs
        hydra: Any = launcher
        sweep = (hydra.hydra_context, hydra.config, hydra.task_function, Singleton.get_state())
        # joblib's own factory of loky's process-wide reusable pool: a joblib.Parallel later in the
        # process (a synchronous sweep) needs what this factory sets up; it gets fresh workers, as
        # its arguments (no initializer) differ from these
        self.executor = get_memmapping_executor(workers, env=env, initializer=_warm_up, initargs=sweep)

    def _start(self, overrides: list[str], idx: int) -> futures.Future:
        return self.executor.submit(_execute, idx, overrides)


#: In a worker of a JoblibPool: the sweep's Hydra context, config, task function and singletons.
_SWEEP: tuple = ()


def _warm_up(*sweep: Any) -> None:
    """A JoblibPool worker's start: keep the sweep's state for every job it will run."""
    global _SWEEP
    _SWEEP = sweep


def _execute(idx: int, overrides: list[str]) -> JobReturn:
    """Job number ``idx`` in a warm worker: the joblib launcher's job function with the kept state."""
    from hydra_plugins.hydra_joblib_launcher._core import execute_job

    return execute_job(idx, overrides, *_SWEEP)


def make_pool(launcher: Launcher, workers: int) -> Pool:
    """The pool that runs ``launcher``'s jobs on ``workers`` workers."""
    module = type(launcher).__module__
    if module.startswith("hydra_plugins.hydra_joblib_launcher"):
        return JoblibPool(launcher, workers)
    if module.startswith("hydra_plugins.hydra_submitit_launcher"):
        return ThreadPool(launcher, workers)
    return InlinePool(launcher, workers)
