"""Configs of the sweepers, registered as ``hydra/sweeper=random``, ``bayes``, ``hyperband``,
``asha``, ``bohb``, ``pbt``, and ``list`` (a given list of jobs: netopt-bench's trials).

The search space is ``params``: a map from a config key to a sweep in Hydra's override grammar,
``choice(a, b)`` or ``a,b`` (categorical), ``range(1, 5)`` (integers 1..4), ``interval(0, 1)``
(uniform real), ``tag(log, interval(1e-4, 1))`` (log-uniform); sweeps given on the command line
join (and override) them. The objective is ``metric`` of the metrics dict the task returns
(``val/acc`` and ``val_acc`` are the same key), maximized or minimized as ``direction`` says.
``batch_size`` (the jobs launched together) left unset follows the launcher: SLURM's
``array_parallelism``, joblib's ``n_jobs``; with a launcher that does not say, the sweeper's default.
"""

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore


@dataclass
class SweeperConf:
    """Settings every netopt sweeper shares."""

    params: dict[str, str] | None = None
    metric: str = "val_acc"
    direction: str = "maximize"  # maximize | minimize
    seed: int = 0
    # the sweep stops once more than this fraction of its finished jobs failed or diverged
    max_failure_rate: float = 0.5
    # added to a job that may continue a trial from its checkpoint (interrupted, or promoted by
    # Hyperband); auto: a Hyperband trial's first rung has no checkpoint yet and starts fresh
    resume_override: str | None = "trainer.resume=auto"
    # launch each job as a worker frees up (true) rather than in rounds that wait for their slowest
    asynchronous: bool = False
    # jobs running at once in an asynchronous sweep; null: the launcher's parallelism, else batch_size
    workers: int | None = None


@dataclass
class RandomSweeperConf(SweeperConf):
    """Random search: n_trials configurations drawn i.i.d., batch_size launched together (default 8)."""

    _target_: str = "hydra_plugins.netopt_sweepers.sweepers.RandomSweeper"
    n_trials: int = 20
    batch_size: int | None = None


@dataclass
class BayesSweeperConf(SweeperConf):
    """Bayesian optimization: a Sobol design of n_initial trials, then GP + EI, batch_size per round
    (default 4)."""

    _target_: str = "hydra_plugins.netopt_sweepers.sweepers.BayesSweeper"
    n_trials: int = 20
    batch_size: int | None = None
    n_initial: int = 8
    n_candidates: int = 2048
    xi: float = 0.0


@dataclass
class HyperbandSweeperConf(SweeperConf):
    """Hyperband over epochs; n_brackets=1 is successive halving; budget_key sets a job's total epochs,
    horizon_key the epochs its schedule is laid over (max_epochs, so a promoted trial continues the
    schedule it started rather than one stretched to its new length); batch_size caps the jobs of
    a round (default: every job of the brackets' current rungs)."""

    _target_: str = "hydra_plugins.netopt_sweepers.sweepers.HyperbandSweeper"
    max_epochs: int = 9
    min_epochs: int = 1
    eta: int = 3
    n_brackets: int | None = None
    batch_size: int | None = None
    budget_key: str = "trainer.max_epochs"
    horizon_key: str | None = "trainer.schedule_epochs"


@dataclass
class AshaSweeperConf(SweeperConf):
    """Asynchronous successive halving over epochs: n_trials configurations, rungs from min_epochs to
    max_epochs by factors of eta, a trial promoted as soon as it is in the top 1/eta of its rung so
    far; budget_key and horizon_key as for Hyperband."""

    _target_: str = "hydra_plugins.netopt_sweepers.sweepers.AshaSweeper"
    max_epochs: int = 9
    min_epochs: int = 1
    eta: int = 3
    n_trials: int = 20
    asynchronous: bool = True
    budget_key: str = "trainer.max_epochs"
    horizon_key: str | None = "trainer.schedule_epochs"


@dataclass
class BohbSweeperConf(HyperbandSweeperConf):
    """BOHB: Hyperband's brackets, a new trial's configuration proposed by a TPE fitted to the largest
    budget with min_points + 2 results (min_points null: dimensions + 1), or random with probability
    random_fraction; asynchronous, so a later bracket's trials are proposed as workers free up."""

    _target_: str = "hydra_plugins.netopt_sweepers.sweepers.BohbSweeper"
    asynchronous: bool = True
    random_fraction: float = 1 / 3
    top_fraction: float = 0.15
    min_points: int | None = None
    n_candidates: int = 64
    bandwidth_factor: float = 3.0


@dataclass
class PbtSweeperConf(SweeperConf):
    """Population-based training: population members, every interval epochs the bottom quantile
    continues from the checkpoint of a top one with its values perturbed (x0.8 or x1.2, or drawn
    afresh with resample_probability); checkpoint is the run folder's file a fork copies. Explore
    only what leaves the checkpoint's shapes alone (the optimizer's values, regularization).
    barrier: each generation waits for every member; false: a member exploits and explores as soon
    as it reports, ranked among the members that reached its epoch so far."""

    _target_: str = "hydra_plugins.netopt_sweepers.sweepers.PbtSweeper"
    population: int = 8
    interval: int = 2
    max_epochs: int = 10
    quantile: float = 0.25
    resample_probability: float = 0.25
    barrier: bool = True
    asynchronous: bool = True
    checkpoint: str = "checkpoint.pt"
    budget_key: str = "trainer.max_epochs"
    horizon_key: str | None = "trainer.schedule_epochs"


@dataclass
class ListSweeperConf:
    """A given list of jobs (the file ``jobs``: ``[{subdir, overrides}]``), ``workers`` at a time
    (null: the launcher's parallelism): netopt-bench's trials through a launcher."""

    _target_: str = "hydra_plugins.netopt_sweepers.listed.ListSweeper"
    jobs: str = "???"
    workers: int | None = None


for _name, _node in (
    ("random", RandomSweeperConf),
    ("bayes", BayesSweeperConf),
    ("hyperband", HyperbandSweeperConf),
    ("asha", AshaSweeperConf),
    ("bohb", BohbSweeperConf),
    ("pbt", PbtSweeperConf),
    ("list", ListSweeperConf),
):
    ConfigStore.instance().store(group="hydra/sweeper", name=_name, node=_node, provider="netopt")
