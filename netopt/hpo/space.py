"""Search spaces for hyperparameter optimization: uniform, log-uniform, integer and choice dimensions.

A space maps a point u of the unit cube [0, 1)^d (one coordinate per hyperparameter) to a
configuration, so random search (u ~ U[0, 1)^d), a Sobol design and the candidates of Bayesian
optimization all share one sampler. For the Gaussian-process surrogate each configuration is
encoded back into [0, 1]^D: numeric dimensions by their position between the bounds (in log space
for log dimensions), a choice of k values as a one-hot block of k columns.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from netopt.errors import UserError


def _scale(value: float, low: float, high: float, log: bool) -> float:
    """Position of value between low and high, in log space when log is set (0 when low == high)."""
    if log:
        value, low, high = math.log(value), math.log(low), math.log(high)
    return 0.0 if high == low else (value - low) / (high - low)


def _unscale(u: float, low: float, high: float, log: bool) -> float:
    """Inverse of :func:`_scale`."""
    if log:
        return math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    return low + u * (high - low)


def _check_bounds(name: str, low: float, high: float, log: bool) -> None:
    if not low <= high:
        raise UserError(f"{name}: lower bound {low} must not exceed upper bound {high}")
    if log and low <= 0:
        raise UserError(f"{name}: a log-scaled range needs bounds > 0, got {low}")


@dataclass(frozen=True)
class Uniform:
    """A real value uniform on [low, high] (on log-values when log: the log-uniform distribution)."""

    name: str
    low: float
    high: float
    log: bool = False
    width = 1

    def __post_init__(self) -> None:
        _check_bounds(self.name, self.low, self.high, self.log)

    def from_unit(self, u: float) -> float:
        return _unscale(u, self.low, self.high, self.log)

    def to_unit(self, value: Any) -> float:
        return _scale(float(value), self.low, self.high, self.log)

    def encode(self, value: Any) -> list[float]:
        return [_scale(float(value), self.low, self.high, self.log)]


@dataclass(frozen=True)
class Integer:
    """An integer from low to high (inclusive) in steps of step.

    Linear: each value equally likely. Log: log-uniform on [low, high], rounded to the nearest
    value of the grid (the two end values then get half the weight of the others).
    """

    name: str
    low: int
    high: int
    step: int = 1
    log: bool = False
    width = 1

    def __post_init__(self) -> None:
        _check_bounds(self.name, self.low, self.high, self.log)
        if self.step <= 0:
            raise UserError(f"{self.name}: the step of a range must be > 0, got {self.step}")

    @property
    def count(self) -> int:
        return (self.high - self.low) // self.step + 1

    def from_unit(self, u: float) -> int:
        index = (
            round((_unscale(u, self.low, self.high, True) - self.low) / self.step)
            if self.log
            else int(u * self.count)
        )
        return self.low + self.step * min(max(index, 0), self.count - 1)

    def to_unit(self, value: Any) -> float:
        if self.log:
            return _scale(float(value), self.low, self.high, True)
        return ((int(value) - self.low) // self.step + 0.5) / self.count

    def encode(self, value: Any) -> list[float]:
        return [_scale(float(value), self.low, self.high, self.log)]


@dataclass(frozen=True)
class Choice:
    """One of a list of values (categorical, unordered), each equally likely; one-hot encoded."""

    name: str
    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise UserError(f"{self.name}: choice() needs at least one value")

    @property
    def width(self) -> int:
        return len(self.values)

    def from_unit(self, u: float) -> Any:
        return self.values[min(int(u * len(self.values)), len(self.values) - 1)]

    def to_unit(self, value: Any) -> float:
        return (self._index(value) + 0.5) / len(self.values)

    def _index(self, value: Any) -> int:
        if value not in self.values:
            raise UserError(f"{self.name}={value}: not one of the choices {list(self.values)}")
        return self.values.index(value)

    def encode(self, value: Any) -> list[float]:
        index = self._index(value)
        return [float(i == index) for i in range(len(self.values))]


Dimension = Uniform | Integer | Choice


class SearchSpace:
    """An ordered set of named dimensions; configurations are dicts name -> value."""

    def __init__(self, dimensions: Sequence[Dimension]) -> None:
        self.dimensions = list(dimensions)
        if not self.dimensions:
            raise UserError("hydra.sweeper.params: the search space is empty; give at least one dimension")

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    def __len__(self) -> int:
        return len(self.dimensions)

    @property
    def encoded_width(self) -> int:
        return sum(d.width for d in self.dimensions)

    def from_unit(self, points: Tensor) -> list[dict[str, Any]]:
        """Configurations for points (n, d) of the unit cube, one coordinate per dimension."""
        rows = points.tolist()
        return [{d.name: d.from_unit(u) for d, u in zip(self.dimensions, row, strict=True)} for row in rows]

    def to_unit(self, configs: Sequence[Mapping[str, Any]]) -> Tensor:
        """Points (n, d) of the unit cube that :meth:`from_unit` maps back to configs."""
        rows = [[d.to_unit(c[d.name]) for d in self.dimensions] for c in configs]
        return torch.tensor(rows, dtype=torch.float64).reshape(len(rows), len(self))

    def sample(self, n: int, generator: torch.Generator) -> list[dict[str, Any]]:
        """n independent configurations, each dimension drawn from its own distribution."""
        return self.from_unit(torch.rand(n, len(self), generator=generator, dtype=torch.float64))

    def encode(self, configs: Sequence[Mapping[str, Any]]) -> Tensor:
        """Features (n, encoded_width) in [0, 1] for the surrogate model, float64."""
        rows = [[x for d in self.dimensions for x in d.encode(c[d.name])] for c in configs]
        return torch.tensor(rows, dtype=torch.float64).reshape(len(rows), self.encoded_width)
