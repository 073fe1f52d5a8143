"""Loss slices: the loss surface of a network seen along a line or over a plane through weight space.

The loss of a network is a function on R^n with n in the thousands or millions; a slice shows it along
one or two directions:

- the line from the initial weights theta_0 to the final ones theta_1 (Goodfellow et al. 2015,
  Qualitatively Characterizing Neural Network Optimization Problems):
  theta(a) = (1 - a) theta_0 + a theta_1, a from before 0 to beyond 1. A loss falling without bumps
  along it says that the path from start to solution meets no barrier (saddle or local minimum).
- the plane around the final weights theta* spanned by two random directions delta, eta (Li et al.
  2018, Visualizing the Loss Landscape of Neural Nets): theta(a, b) = theta* + a delta + b eta, with
  each direction filter-normalized (:func:`filter_normalized_direction`) so that flat and sharp minima
  of networks with different weight scales compare; the chapter's flat vs sharp minima
  (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7) become visible as wide or narrow basins.

Every point is evaluated in evaluation mode over whole lists of batches, without gradients, by the
model's task (:mod:`netopt.tasks`: a classifier's cross-entropy and accuracy, an autoencoder's mean
squared error and no accuracy, NaN); the model's weights are restored bit for bit afterwards.
Batch-normalized models: along the line the running mean and variance are interpolated with the
weights (both ends are then exactly the two models); in the plane they stay those of theta*.
"""

import csv
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from netopt.landscape.hessian import Batches
from netopt.landscape.parameters import evaluating
from netopt.nn.norm import WeightNorm
from netopt.tasks import CLASSIFICATION, Task

#: A direction in weight space: state_dict name -> tensor; the entries it lacks are zero.
Direction = dict[str, Tensor]


@dataclass
class Slice:
    """Loss and accuracy of each split (``"train"``, ``"test"``, ...) at every point of a grid.

    ``axes`` holds the coordinates along each direction, one vector for a line (a), two for a plane
    (a, b); ``loss[split]`` and ``accuracy[split]`` are shaped (len(a),) or (len(a), len(b)).
    """

    axes: tuple[Tensor, ...]
    loss: dict[str, Tensor]
    accuracy: dict[str, Tensor]


def interpolation(
    model: nn.Module,
    start: Mapping[str, Tensor],
    splits: Mapping[str, Batches],
    *,
    end: Mapping[str, Tensor] | None = None,
    alphas: Tensor | None = None,
    task: Task = CLASSIFICATION,
    on_point: Callable[[], None] | None = None,
) -> Slice:
    """The loss along theta(a) = theta_0 + a (theta_1 - theta_0) (Goodfellow et al. 2015).

    theta_0 is the state_dict ``start`` (the weights at initialization), theta_1 the state_dict
    ``end`` (default: the model's current weights); every floating-point entry is interpolated,
    parameters and batch norm's running estimates alike. ``alphas`` defaults to -0.25, -0.2, ..., 1.25.
    ``on_point`` is called after each point is evaluated (a progress bar).
    """
    current = model.state_dict()
    end = end if end is not None else current
    names = [name for name, value in current.items() if value.is_floating_point()]
    origin = {name: start[name].to(current[name]) for name in names}
    direction = {name: end[name].to(current[name]) - origin[name] for name in names}
    alphas = alphas if alphas is not None else torch.linspace(-0.25, 1.25, 31, dtype=torch.float64)
    return _sweep(model, origin, [direction], (alphas,), splits, task, on_point)


def filter_normalized_direction(model: nn.Module, generator: torch.Generator | None = None) -> Direction:
    """A random direction with the scale of the weights, filter by filter (Li et al. 2018).

    For each weight matrix or kernel theta (a parameter of 2 or more dims) draw d ~ N(0, I) of its
    shape and rescale every filter (output row or output channel, index i of dim 0):
    d_i <- d_i / ||d_i|| * ||theta_i||. Biases and normalization parameters (1-dim) get no direction,
    the paper's default; so does the length g of a weight-normalized layer, whose direction v gets one.
    """
    lengths = _weight_norm_lengths(model)
    direction: Direction = {}
    for name, weight in model.named_parameters():
        if weight.dim() < 2 or not weight.requires_grad or id(weight) in lengths:
            continue
        device = generator.device if generator is not None else torch.device("cpu")
        draw = torch.randn(weight.shape, generator=generator, device=device, dtype=weight.dtype)
        draw = draw.to(weight.device)
        direction[name] = draw * (filter_norms(weight.detach()) / filter_norms(draw))
    return direction


def filter_norms(tensor: Tensor) -> Tensor:
    """||t_i|| for every filter t_i (the slices along dim 0), shaped to broadcast over ``tensor``."""
    norms = torch.linalg.vector_norm(tensor.flatten(1), dim=1)
    return norms.view(-1, *(1,) * (tensor.dim() - 1))


def _weight_norm_lengths(model: nn.Module) -> set[int]:
    """The ids of the g parameters of every weight-normalized weight in ``model``."""
    return {
        id(module.original0)
        for module in model.modules()
        if isinstance(module, parametrize.ParametrizationList) and isinstance(module[0], WeightNorm)
    }


def plane(
    model: nn.Module,
    splits: Mapping[str, Batches],
    *,
    directions: tuple[Direction, Direction] | None = None,
    generator: torch.Generator | None = None,
    coordinates: Tensor | None = None,
    task: Task = CLASSIFICATION,
    on_point: Callable[[], None] | None = None,
) -> Slice:
    """The loss over theta(a, b) = theta* + a delta + b eta around the current weights theta*
    (Li et al. 2018), for a and b both in ``coordinates`` (default 21 points over [-1, 1]).

    delta and eta are two :func:`filter_normalized_direction` drawn from ``generator`` unless given.
    They are not orthogonalized: two random directions in many dimensions are nearly orthogonal.
    ``on_point`` is called after each point is evaluated.
    """
    if directions is None:
        directions = (
            filter_normalized_direction(model, generator),
            filter_normalized_direction(model, generator),
        )
    current = model.state_dict()
    origin = {name: current[name].clone() for name in directions[0].keys() | directions[1].keys()}
    coordinates = (
        coordinates if coordinates is not None else torch.linspace(-1.0, 1.0, 21, dtype=torch.float64)
    )
    return _sweep(model, origin, directions, (coordinates, coordinates), splits, task, on_point)


def _sweep(
    model: nn.Module,
    origin: Direction,
    directions: Sequence[Direction],
    axes: tuple[Tensor, ...],
    splits: Mapping[str, Batches],
    task: Task,
    on_point: Callable[[], None] | None,
) -> Slice:
    """Evaluate every split at theta = origin + sum_k c_k direction_k for each point c of the grid
    ``axes``; then put the model's weights back."""
    state = model.state_dict()  # tensors that share storage with the model's
    names = list(origin)
    targets = [state[name] for name in names]
    saved = [target.clone() for target in targets]
    steps = [[d.get(name, torch.zeros_like(origin[name])) for name in names] for d in directions]
    points = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(axes))
    results: dict[str, list[Tensor]] = {split: [] for split in splits}
    try:
        with evaluating(model), torch.no_grad():
            for point in points.tolist():
                torch._foreach_copy_(targets, [origin[name] for name in names])
                for coordinate, step in zip(point, steps, strict=True):
                    torch._foreach_add_(targets, step, alpha=coordinate)
                for split, batches in splits.items():
                    results[split].append(_loss_and_accuracy(model, batches, task))
                if on_point is not None:
                    on_point()
    finally:
        with torch.no_grad():
            torch._foreach_copy_(targets, saved)
    shape = tuple(len(axis) for axis in axes)
    values = {split: torch.stack(rows).cpu().double().view(*shape, 2) for split, rows in results.items()}
    return Slice(
        tuple(axis.cpu().double() for axis in axes),
        {split: v[..., 0] for split, v in values.items()},
        {split: v[..., 1] for split, v in values.items()},
    )


def _loss_and_accuracy(model: nn.Module, batches: Batches, task: Task) -> Tensor:
    """(mean loss, accuracy) over all samples of ``batches``, as a tensor on the model's device: the
    task's loss against its target, and its accuracy (NaN for a task without classes)."""
    total = torch.zeros(2, device=batches[0][0].device)
    hits, count = task.hits(), 0
    for x, y in batches:
        output, target = model(x), task.target(x, y)
        total[0] += task.loss(output, target).float() * len(y)
        hits.add(output, target)
        count += len(y)
    total[1] = hits.total()
    return total / count


def write_csv(result: Slice, path: Path) -> None:
    """One row per grid point: its coordinates (``a``, and ``b`` for a plane), then the loss and the
    accuracy of every split (``train_loss``, ``train_acc``, ...)."""
    coordinates = ["a", "b"][: len(result.axes)]
    splits = list(result.loss)
    grid = torch.stack(torch.meshgrid(*result.axes, indexing="ij"), -1).reshape(-1, len(result.axes))
    columns = [grid] + [
        values[split].reshape(-1, 1) for split in splits for values in (result.loss, result.accuracy)
    ]
    header = coordinates + [f"{split}_{kind}" for split in splits for kind in ("loss", "acc")]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows([f"{value:.7g}" for value in row] for row in torch.cat(columns, 1).tolist())
