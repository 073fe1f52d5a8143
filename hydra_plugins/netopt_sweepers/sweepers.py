"""The Sweeper plugins: each turns its config into a search strategy of :mod:`netopt.hpo`.

The shared loop (launch, record, resume, failure rate, summary) is
:class:`hydra_plugins.netopt_sweepers._core.SweepLoop`, imported only when a sweep starts.
"""

import os
from collections.abc import Mapping
from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from netopt.checks import require_count


def parallelism(launcher: Mapping[str, Any]) -> int | None:
    """How many jobs ``launcher`` (its config) runs at once, if it says: SLURM's ``array_parallelism``,
    joblib's ``n_jobs`` (-1: every CPU, -2: all but one, as joblib counts)."""
    if launcher.get("array_parallelism") is not None:
        return int(launcher["array_parallelism"])
    if launcher.get("n_jobs") is not None:
        n_jobs = int(launcher["n_jobs"])
        return n_jobs if n_jobs > 0 else max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return None


class NetoptSweeper(Sweeper):
    """Base: keeps the config; subclasses say how to build the search strategy (``make_search``).

    An unset ``batch_size`` becomes the launcher's :func:`parallelism`, else ``default_batch_size``;
    an asynchronous sweep runs on ``workers`` workers (unset: the launcher's parallelism, else
    ``batch_size``, else 1).
    """

    budget_key: str | None = None
    horizon_key: str | None = None
    checkpoint: str = "checkpoint.pt"
    keeps_checkpoints = False  # whether each job's checkpoint is kept at its epoch (netopt.hpo.fork.keep)
    default_batch_size: int | None = None

    def __init__(
        self,
        params: dict[str, str] | None,
        metric: str,
        direction: str,
        seed: int,
        max_failure_rate: float,
        resume_override: str | None,
        asynchronous: bool = False,
        workers: int | None = None,
        **search: Any,
    ) -> None:
        from hydra_plugins.netopt_sweepers._core import SweepLoop

        self.loop = SweepLoop(self, dict(params or {}), metric, direction, max_failure_rate, resume_override)
        self.seed = seed
        self.search = search
        self.asynchronous, self.workers = asynchronous, workers

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.config = hydra_context, config
        launcher_parallelism = parallelism(config.hydra.launcher)
        if "batch_size" in self.search and self.search["batch_size"] is None:
            self.search["batch_size"] = launcher_parallelism or self.default_batch_size
        if self.workers is None:
            self.workers = launcher_parallelism or self.search.get("batch_size") or 1
        require_count(**{"hydra.sweeper.workers": self.workers})
        self.loop.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        return self.loop.sweep(arguments)

    def make_search(self, space: Any, maximize: bool) -> Any:
        raise NotImplementedError


class RandomSweeper(NetoptSweeper):
    """Random search (``hydra/sweeper=random``)."""

    default_batch_size = 8

    def make_search(self, space: Any, maximize: bool) -> Any:
        from netopt.hpo import RandomSearch

        return RandomSearch(space, seed=self.seed, **self.search)


class BayesSweeper(NetoptSweeper):
    """Bayesian optimization with a GP surrogate and expected improvement (``hydra/sweeper=bayes``)."""

    default_batch_size = 4

    def make_search(self, space: Any, maximize: bool) -> Any:
        from netopt.hpo import BayesSearch

        return BayesSearch(space, maximize=maximize, seed=self.seed, **self.search)


class HyperbandSweeper(NetoptSweeper):
    """Hyperband / successive halving over epochs (``hydra/sweeper=hyperband``)."""

    def __init__(self, budget_key: str, horizon_key: str | None, **settings: Any) -> None:
        super().__init__(**settings)
        self.budget_key, self.horizon_key = budget_key, horizon_key

    def make_search(self, space: Any, maximize: bool) -> Any:
        from netopt.hpo import Hyperband

        return Hyperband(space, maximize=maximize, seed=self.seed, **self.search)


class AshaSweeper(HyperbandSweeper):
    """Asynchronous successive halving over epochs (``hydra/sweeper=asha``)."""

    def make_search(self, space: Any, maximize: bool) -> Any:
        from netopt.hpo import ASHA

        return ASHA(space, maximize=maximize, seed=self.seed, **self.search)


class BohbSweeper(HyperbandSweeper):
    """Hyperband with TPE proposals (``hydra/sweeper=bohb``)."""

    def make_search(self, space: Any, maximize: bool) -> Any:
        from netopt.hpo import BOHB

        return BOHB(space, maximize=maximize, seed=self.seed, **self.search)


class PbtSweeper(HyperbandSweeper):
    """Population-based training (``hydra/sweeper=pbt``); ``checkpoint`` is the file a fork copies."""

    keeps_checkpoints = True

    def __init__(self, checkpoint: str, **settings: Any) -> None:
        super().__init__(**settings)
        self.checkpoint = checkpoint

    def make_search(self, space: Any, maximize: bool) -> Any:
        from netopt.hpo import PBT

        return PBT(space, maximize=maximize, seed=self.seed, **self.search)

    def sweep(self, arguments: list[str]) -> Any:
        """The sweep, then ``pbt.png``: the values each member trained with and the lineage."""
        from netopt.hpo.pbt_figure import write_schedule_figure

        returns = self.loop.sweep(arguments)
        loop = self.loop
        print(f"figure: {write_schedule_figure(loop.sweep_dir, loop.journal.read(), loop.metric)}")
        return returns
