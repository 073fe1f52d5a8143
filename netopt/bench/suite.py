"""What the benchmark runs: workloads, submissions, rulesets and their trials.

A **workload** (``conf/bench/workload/<name>.yaml``) is a training task (netopt-train overrides), a
validation metric with its target, a test target reported beside it, a budget of optimizer steps and
the steps between validations. A **submission** is an optimizer preset (``conf/optimizer/<name>.yaml``);
its search space (``conf/bench/space/<name>.yaml``: ``key: {low, high, log}`` or ``key: {choices:
[...]}``) is what external tuning may tune. The rulesets are those of AlgoPerf (Dahl et al.,
"Benchmarking Neural Network Training Algorithms", 2023):

- ``external``: N trials per submission, workload and seed, trial k at the k-th point of the Halton
  sequence (Halton, "On the efficiency of certain quasi-random sequences of points in evaluating
  multi-dimensional integrals", 1960) mapped into the space; the best trial's time to target counts;
- ``self``: one trial at the preset's defaults, no tuning.

Trial k of seed s trains with ``trainer.seed=s``; the Halton points are the same for every seed, so a
seed repeats the same search with other initial weights and batches.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from netopt import config
from netopt.checks import require
from netopt.errors import UserError
from netopt.hpo.space import Choice, Dimension, SearchSpace, Uniform
from netopt.metrics import natural_direction

RULESETS = ("external", "self")
BENCH = "bench"


@dataclass(frozen=True)
class Workload:
    """A task with a validation target to reach within ``budget`` steps, validated every ``eval_every``."""

    name: str
    task: tuple[str, ...]
    metric: str
    target: float
    test_target: float
    budget: int
    eval_every: int

    @property
    def maximize(self) -> bool:
        return natural_direction(self.metric) != "min"

    @property
    def test_metric(self) -> str:
        return "test_" + self.metric.removeprefix("val_")

    def overrides(self, budget_scale: float = 1.0) -> list[str]:
        """netopt-train overrides: the task, a validation every ``eval_every`` steps (an "epoch" of
        that many batches) and as many of them as the scaled budget holds."""
        budget = max(1, round(self.budget * budget_scale))
        every = min(self.eval_every, budget)
        return [
            *self.task,
            f"trainer.limit_batches={every}",
            f"trainer.max_epochs={math.ceil(budget / every)}",
        ]


@dataclass(frozen=True)
class Trial:
    """One run: a submission with hyperparameters ``params`` on a workload, with a seed."""

    workload: str
    submission: str
    seed: int
    index: int  # 0: the defaults (self-tuning); k >= 1: the k-th Halton point
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return Path(self.workload, self.submission, f"seed{self.seed}_trial{self.index}")

    def overrides(self) -> list[str]:
        return [f"optimizer={self.submission}", f"trainer.seed={self.seed}"] + [
            f"{key}={value!r}" for key, value in self.params.items()
        ]


def _files(kind: str) -> dict[str, Any]:
    folder = resources.files(config.CONF_PACKAGE).joinpath(BENCH, kind)
    return {f.name.removesuffix(".yaml"): f for f in folder.iterdir() if f.name.endswith(".yaml")}


def workload(name: str) -> Workload:
    """The workload ``conf/bench/workload/<name>.yaml``."""
    files = _files("workload")
    if name not in files:
        raise UserError(f"workloads: no such workload {name}; choose from {', '.join(sorted(files))}")
    values = config.read_yaml(files[name].read_text(encoding="utf-8"))
    keys = ("task", "metric", "target", "test_target", "budget", "eval_every")
    missing = [key for key in keys if key not in values]
    require(not missing, f"conf/bench/workload/{name}.yaml", f"the keys {', '.join(keys)}", missing)
    for key in ("budget", "eval_every"):
        require(
            isinstance(values[key], int) and values[key] > 0,
            f"{name}.{key}",
            "a whole number > 0",
            values[key],
        )
    return Workload(name, tuple(values["task"]), **{k: values[k] for k in keys[1:]})


def space(submission: str) -> SearchSpace:
    """The search space ``conf/bench/space/<submission>.yaml``."""
    files = _files("space")
    if submission not in files:
        raise UserError(
            f"submissions: {submission} has no search space for external tuning; add "
            f"conf/bench/space/{submission}.yaml or run ruleset=self"
        )
    values = config.read_yaml(files[submission].read_text(encoding="utf-8"))
    return SearchSpace([_dimension(key, spec) for key, spec in values.items()])


def _dimension(key: str, spec: Mapping[str, Any]) -> Dimension:
    if "choices" in spec:
        return Choice(key, tuple(spec["choices"]))
    return Uniform(key, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False)))


def submissions(chosen: Sequence[str] | None) -> list[str]:
    """The chosen optimizer presets (None: every one in conf/optimizer)."""
    config.register()
    options = config.OPTIONS["optimizer"]
    names = sorted(options) if chosen is None else list(chosen)
    unknown = [name for name in names if name not in options]
    if unknown:
        raise UserError(
            f"submissions: no such optimizer {unknown[0]}; choose from {', '.join(sorted(options))}"
        )
    return names


def halton(n: int, dims: int, start: int = 1) -> torch.Tensor:
    """Points start .. start + n - 1 of the Halton sequence in [0, 1)^dims (n, dims), float64: coordinate
    j of point i is the radical inverse of i in the j-th prime base, its digits mirrored about the point."""
    primes = _primes(dims)
    rows = [[_radical_inverse(i, p) for p in primes] for i in range(start, start + n)]
    return torch.tensor(rows, dtype=torch.float64).reshape(n, dims)


def _radical_inverse(i: int, base: int) -> float:
    value, scale = 0.0, 1.0 / base
    while i:
        i, digit = divmod(i, base)
        value += digit * scale
        scale /= base
    return value


def _primes(count: int) -> list[int]:
    primes: list[int] = []
    candidate = 2
    while len(primes) < count:
        if all(candidate % p for p in primes):
            primes.append(candidate)
        candidate += 1
    return primes


def trials(
    workloads: Sequence[str], names: Sequence[str], ruleset: str, n_trials: int, seeds: Sequence[int]
) -> list[Trial]:
    """Every trial of the benchmark, in the order they run: workload, submission, seed, trial."""
    require(ruleset in RULESETS, "ruleset", " or ".join(RULESETS), ruleset)
    points: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        if ruleset == "self":
            points[name] = [{}]
        else:
            s = space(name)
            points[name] = s.from_unit(halton(n_trials, len(s)))
    return [
        Trial(w, name, seed, 0 if ruleset == "self" else k, params)
        for w in workloads
        for name in names
        for seed in seeds
        for k, params in enumerate(points[name], 1)
    ]
