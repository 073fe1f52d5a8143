"""A sweeper of a given list of jobs (``hydra/sweeper=list``): netopt-bench's trials through any launcher.

``hydra.sweeper.jobs`` is a YAML file, a list of jobs ``{subdir: <folder under hydra.sweep.dir>,
overrides: [...]}``. Each job runs with the command line's overrides, then its own, in
``<hydra.sweep.dir>/<subdir>``, ``workers`` at a time (unset: the launcher's parallelism) on the
launcher's pool (:mod:`._pool`: joblib's processes, one SLURM job each, or one after another); a worker
that frees up takes the next job. No search and no summary: whoever wrote the list reads the run
folders. A job whose folder holds a completed run returns its metrics, an interrupted one continues from
its checkpoint (a sweep's job, :func:`netopt.run.runner.run`), so the same list launched again redoes
nothing that finished.
"""

import logging
from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class ListSweeper(Sweeper):
    """Launch the jobs of the file ``jobs`` (see the module docstring)."""

    def __init__(self, jobs: str, workers: int | None = None) -> None:
        self.jobs, self.workers = jobs, workers

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        from hydra_plugins.netopt_sweepers.sweepers import parallelism
        from netopt.checks import require_count

        self.launcher: Any = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        self.workers = self.workers or parallelism(config.hydra.launcher) or 1
        require_count(**{"hydra.sweeper.workers": self.workers})

    def sweep(self, arguments: list[str]) -> Any:
        from omegaconf import OmegaConf

        from hydra_plugins.netopt_sweepers._pool import make_pool
        from netopt.hpo.summary import format_value

        listed: list[Any] = OmegaConf.to_container(OmegaConf.load(self.jobs))  # type: ignore[assignment]
        queue = [
            [*arguments, *job["overrides"], f"hydra.sweep.subdir={format_value(job['subdir'])}"]
            for job in listed
        ]
        subdirs = [str(job["subdir"]) for job in listed]
        pool = make_pool(self.launcher, self.workers or 1)
        returns: list[Any] = []
        try:
            for idx, overrides in enumerate(queue):
                while len(pool.running) >= pool.workers:
                    returns += self._ended(pool.wait(), subdirs)
                pool.submit(overrides, idx)
            while pool.running:
                returns += self._ended(pool.wait(), subdirs)
        finally:
            pool.close()
        return [returns]

    @staticmethod
    def _ended(ended: list[Any], subdirs: list[str]) -> list[Any]:
        """The results of the ended jobs; a failed one is a warning line (its traceback in its log)."""
        from hydra.core.utils import JobStatus

        from netopt.errors import first_line

        for idx, ret in ended:
            if ret.status == JobStatus.FAILED:
                log.warning("%s: failed: %s", subdirs[idx], first_line(ret._return_value))
        return [ret for _, ret in ended]
