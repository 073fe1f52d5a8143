"""Optimizer trajectories on the 2-D test functions."""

import functools

import pytest
import torch

from netopt import optim
from netopt.landscape.plot import plot_trajectory_rows
from netopt.landscape.toy import (
    ESCAPE_DROP,
    FUNCTIONS,
    MONKEY_SADDLE,
    ROSENBROCK,
    SADDLE,
    SPHERE,
    escape_step,
    trajectory,
)

OPTIMIZERS = {
    "sgd": functools.partial(optim.SGD, lr=0.1),
    "momentum": functools.partial(optim.SGD, lr=0.05, momentum=0.9),
    "nesterov": functools.partial(optim.SGD, lr=0.05, momentum=0.9, nesterov=True),
    "adagrad": functools.partial(optim.Adagrad, lr=0.5),
    "rmsprop": functools.partial(optim.RMSprop, lr=0.05),
    "adadelta": functools.partial(optim.Adadelta, lr=10.0),
    "adam": functools.partial(optim.Adam, lr=0.1),
    "adamw": functools.partial(optim.AdamW, lr=0.1),
    "nadam": functools.partial(optim.NAdam, lr=0.1),
    "lion": functools.partial(optim.Lion, lr=0.05),
    "sam": functools.partial(optim.SAM, base=functools.partial(optim.SGD, lr=0.1), rho=0.05),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_descends_the_sphere(name):
    result = trajectory(OPTIMIZERS[name], SPHERE, steps=200)
    assert result.path.shape == (201, 2) and result.loss.shape == (201,) and not result.left_box
    assert result.escape_step is None  # no saddle point to escape
    assert result.loss[-1] < 1e-3 * result.loss[0]
    torch.testing.assert_close(result.loss, (result.path**2).sum(1))


def test_gradient_descent_started_on_the_ridge_of_the_saddle_stays_on_it():
    """On x^2 - y^2 from y = 0 exactly the y-gradient -2y is exactly zero: plain gradient descent
    converges to the saddle point and never escapes without noise."""
    result = trajectory(functools.partial(optim.SGD, lr=0.05), SADDLE, start=(-1.5, 0.0), steps=300)
    assert torch.equal(result.path[:, 1], torch.zeros(301, dtype=torch.float64))
    assert abs(result.path[-1, 0].item()) < 1e-12 and not result.escaped and not result.left_box


def test_gradient_noise_pushes_gradient_descent_off_the_ridge():
    """The same start with gradient noise (eta = 0.01, Neelakantan et al. 2015): the noise moves y
    off 0, where the slope -2y pushes it further (x 1.1 a step). Seeded: |y| > 1 at step 52; over
    seeds 0-7 at steps 50-66, so the bound is 80 steps."""
    torch.manual_seed(0)

    def noisy(params: list[torch.Tensor]) -> torch.optim.Optimizer:
        return optim.with_transforms(optim.SGD(params, lr=0.05), grad_noise=optim.GradientNoise(eta=0.01))

    result = trajectory(noisy, SADDLE, start=(-1.5, 0.0), steps=300)
    off_ridge = (result.path[:, 1].abs() > 1).nonzero()
    assert result.escaped and len(off_ridge) and off_ridge[0].item() <= 80


def test_a_path_off_the_ridge_escapes_and_stops_at_the_box():
    result = trajectory(functools.partial(optim.SGD, lr=0.05), SADDLE, start=(-1.5, 0.01), steps=1000)
    assert result.left_box and len(result.path) < 1001
    assert torch.isfinite(result.path).all() and torch.isfinite(result.loss).all()
    assert result.path[-1].abs().max() > SADDLE.box >= result.path[-2].abs().max()


def test_the_escape_step_is_the_first_step_a_unit_below_the_saddle_point():
    """Off the ridge, SGD at lr 0.05 multiplies y by 1.1 and x by 0.9 a step: the loss x^2 - y^2 first
    falls below -1 at the step computed from that closed form."""
    result = trajectory(functools.partial(optim.SGD, lr=0.05), SADDLE, start=(-1.5, 0.01), steps=150)
    t = torch.arange(151, dtype=torch.float64)
    closed_form = (1.5 * 0.9**t) ** 2 - (0.01 * 1.1**t) ** 2
    assert result.escape_step == int((closed_form < -ESCAPE_DROP).nonzero()[0]) and result.escaped
    assert result.loss[result.escape_step] < -ESCAPE_DROP <= result.loss[result.escape_step - 1]
    assert escape_step(SPHERE, torch.tensor([-5.0, -10.0])) is None  # no saddle point
    assert escape_step(MONKEY_SADDLE, torch.tensor([3.0, -0.5, -1.5])) == 2


def test_adaptive_methods_escape_the_flat_monkey_saddle_before_gradient_descent():
    """Near x^3 - 3xy^2's flat saddle the gradient vanishes quadratically: SGD slows down on the
    plateau, Adam rescales the small gradient and passes it (the chapter's saddle-point picture)."""
    steps = {
        name: trajectory(make, MONKEY_SADDLE, steps=150).escape_step
        for name, make in (
            ("sgd", functools.partial(optim.SGD, lr=0.02)),
            ("adam", functools.partial(optim.Adam, lr=0.05)),
        )
    }
    assert steps["adam"] is not None and steps["sgd"] is not None and steps["adam"] < steps["sgd"]


def test_adam_reaches_the_rosenbrock_minimum():
    """Adam (lr 0.05) from (-1.5, 2) follows the curved valley to within 1e-4 of (1, 1) in 2000 steps."""
    result = trajectory(functools.partial(optim.Adam, lr=0.05), ROSENBROCK, steps=2000)
    distance = torch.linalg.vector_norm(result.path[-1] - torch.tensor([1.0, 1.0], dtype=torch.float64))
    assert distance < 1e-4


@pytest.mark.parametrize(
    ("function", "lr"), [(ROSENBROCK, 1e-3), (SADDLE, 0.1)], ids=["rosenbrock", "saddle"]
)
def test_trajectory_figure(tmp_path, function, lr):
    paths = {
        "sgd": trajectory(functools.partial(optim.SGD, lr=lr), function, steps=60),
        "adam": trajectory(functools.partial(optim.Adam, lr=0.05), function, steps=60),
    }
    assert paths["sgd"].left_box == (function is SADDLE)  # the figure marks where it left the view
    plot_trajectory_rows(
        function, {"": {name: [p] for name, p in paths.items()}}, tmp_path / "trajectories.png"
    )
    assert (tmp_path / "trajectories.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_trajectory_figure_with_a_row_per_noise_level_and_a_path_per_seed(tmp_path):
    def paths(start_y: float) -> list:
        return [
            trajectory(functools.partial(optim.SGD, lr=0.05), SADDLE, start=(-1.5, start_y * s), steps=80)
            for s in (1, 2, 3)
        ]

    rows = {"on the ridge": {"sgd": paths(0.0)}, "off the ridge": {"sgd": paths(0.01)}}
    plot_trajectory_rows(SADDLE, rows, tmp_path / "rows.png")
    assert (tmp_path / "rows.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.name)
def test_functions_have_zero_gradient_at_their_critical_points(function):
    for point in (function.minimum, function.saddle):
        if point is not None:
            p = torch.tensor(point, dtype=torch.float64, requires_grad=True)
            function(p).backward()
            assert torch.equal(p.grad, torch.zeros(2, dtype=torch.float64))
    (x0, x1), (y0, y1) = function.window
    assert x0 < function.start[0] < x1 and y0 < function.start[1] < y1
    grid = torch.rand(4, 5, 2, dtype=torch.float64)  # f maps points (..., 2) to values (...)
    assert function(grid).shape == (4, 5)
