"""Optimizer trajectories on 2-D test functions: how each update rule moves on a known surface.

The chapter (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7) compares the optimizers by the
paths they take: plain gradient descent zig-zags across an ill-conditioned valley that momentum
crosses smoothly and adaptive methods rescale; near a saddle point the gradient vanishes and a
path that starts on the ridge never leaves it unless noise pushes it off. The functions:

    sphere          x^2 + y^2                         minimum (0, 0)
    quadratic       x^2 / 20 + y^2                     minimum (0, 0), condition number 20
    rosenbrock      (1 - x)^2 + 100 (y - x^2)^2        minimum (1, 1) at the end of a curved valley
    saddle          x^2 - y^2                          saddle at (0, 0), unbounded below
    monkey_saddle   x^3 - 3 x y^2                      flat saddle at (0, 0) (zero Hessian), unbounded

:func:`trajectory` runs any ``torch.optim.Optimizer`` (built by a factory from a params list) on a
single 2-element parameter, so the same call serves every optimizer and option. It records where a
path escaped the saddle point (its loss fell :data:`ESCAPE_DROP` below the saddle's value) and
whether it ran off (left the function's box, or became non-finite).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

MakeOptimizer = Callable[[list[Tensor]], torch.optim.Optimizer]


@dataclass(frozen=True)
class Function:
    """A test function f on points p of shape (..., 2), its start point, plot window
    ((x_min, x_max), (y_min, y_max)), minimum (None when unbounded below), saddle point (if any),
    and the half-width of the box [-box, box]^2 beyond which a path is stopped."""

    name: str
    formula: str
    f: Callable[[Tensor], Tensor]
    start: tuple[float, float]
    window: tuple[tuple[float, float], tuple[float, float]]
    minimum: tuple[float, float] | None
    saddle: tuple[float, float] | None = None
    box: float = 100.0

    def __call__(self, points: Tensor) -> Tensor:
        return self.f(points)


def _sphere(p: Tensor) -> Tensor:
    return p.square().sum(-1)


def _quadratic(p: Tensor) -> Tensor:
    x, y = p.unbind(-1)
    return x.square() / 20 + y.square()


def _rosenbrock(p: Tensor) -> Tensor:
    x, y = p.unbind(-1)
    return (1 - x).square() + 100 * (y - x.square()).square()


def _saddle(p: Tensor) -> Tensor:
    x, y = p.unbind(-1)
    return x.square() - y.square()


def _monkey_saddle(p: Tensor) -> Tensor:
    x, y = p.unbind(-1)
    return x**3 - 3 * x * y.square()


SPHERE = Function("sphere", "x² + y²", _sphere, (-4.0, 3.0), ((-5, 5), (-5, 5)), (0.0, 0.0))
QUADRATIC = Function("quadratic", "x²/20 + y²", _quadratic, (-7.0, 2.0), ((-8, 8), (-4, 4)), (0.0, 0.0))
ROSENBROCK = Function(
    "rosenbrock", "(1 − x)² + 100 (y − x²)²", _rosenbrock, (-1.5, 2.0), ((-2, 2), (-1, 3)), (1.0, 1.0)
)
SADDLE = Function("saddle", "x² − y²", _saddle, (-1.5, 0.01), ((-2, 2), (-2, 2)), None, (0.0, 0.0))
MONKEY_SADDLE = Function(
    "monkey_saddle", "x³ − 3xy²", _monkey_saddle, (1.5, 0.1), ((-2, 2), (-2, 2)), None, (0.0, 0.0)
)
FUNCTIONS = (SPHERE, QUADRATIC, ROSENBROCK, SADDLE, MONKEY_SADDLE)


#: A path has escaped a saddle point once f fell this far below f at the saddle point.
ESCAPE_DROP = 1.0


@dataclass
class Trajectory:
    """The points an optimizer visited, ``path`` (k + 1, 2) from the start, and f at each of them,
    ``loss`` (k + 1,). k is the number of steps asked for, unless the path ``left_box``: left the
    function's box (its last point, if finite, lies outside) or became non-finite, where it stops.

    ``escape_step``: on a function with a saddle point, the first step at which f fell below
    f(saddle) - :data:`ESCAPE_DROP`, i.e. the path went past the saddle point and downhill on its
    other side (None when it never did, or the function has no saddle point)."""

    path: Tensor
    loss: Tensor
    left_box: bool
    escape_step: int | None = None

    @property
    def escaped(self) -> bool:
        """Whether the path escaped the function's saddle point."""
        return self.escape_step is not None


def trajectory(
    make_optimizer: MakeOptimizer,
    function: Function,
    start: Sequence[float] | None = None,
    steps: int = 100,
) -> Trajectory:
    """Minimize ``function`` from ``start`` (default: its own) for ``steps`` optimizer steps.

    The parameter is one float64 tensor of 2 entries; ``make_optimizer([param])`` builds the optimizer
    (e.g. ``functools.partial(netopt.optim.Adam, lr=0.1)``), whose ``step`` gets a closure that
    computes f and its gradient, so optimizers that evaluate the loss twice (SAM) work as well.
    """
    point = torch.tensor(function.start if start is None else start, dtype=torch.float64, requires_grad=True)
    optimizer = make_optimizer([point])

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = function(point)
        loss.backward()
        return loss

    visited = [point.detach().clone()]
    left_box = False
    for _ in range(steps):
        # torch's stub types the closure as returning a float; closures return the loss tensor
        optimizer.step(closure)  # type: ignore[arg-type]
        current = point.detach().clone()
        if not torch.isfinite(current).all():
            left_box = True
            break
        visited.append(current)
        if current.abs().max() > function.box:
            left_box = True
            break
    path = torch.stack(visited)
    loss = function(path)
    return Trajectory(path, loss, left_box, escape_step(function, loss))


def escape_step(function: Function, loss: Tensor) -> int | None:
    """The first step whose loss lies :data:`ESCAPE_DROP` below f at the function's saddle point
    (None when none does, or it has no saddle point)."""
    if function.saddle is None:
        return None
    below = loss < function(torch.tensor(function.saddle, dtype=loss.dtype)) - ESCAPE_DROP
    return int(below.nonzero()[0]) if below.any() else None
