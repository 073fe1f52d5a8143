"""The regularizers of a run as one object: the runner's four hooks into the loop (data loss,
penalties, step hook, measures) and the two into the model (its constructor's arguments, attach).

The ``regularization`` config group composes a dict of regularizers, one key per file
(``regularization=[l2,dropout]``); the runner builds each by its ``_target_`` and hands them to
:class:`Regularizers`, in that order.
"""

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch
from hydra.utils import instantiate
from torch import Tensor, nn

from netopt.composition import MOVED_REGULARIZATION as MOVED
from netopt.errors import UserError, config_key
from netopt.nn.loss import cross_entropy
from netopt.regularization.regularizer import DataLoss, Regularizer


def _nothing() -> None:
    return None


class Regularizers:
    """Every regularizer of a run, by name, seen by the runner as one.

    :meth:`data_loss` is a task's loss as the regularizers transform it (:meth:`Regularizer.data_loss`),
    :attr:`loss` the cross-entropy's; :meth:`penalties`, :meth:`measures` merge theirs;
    :meth:`step_hook` calls each one's hook.
    """

    def __init__(self, **regularizers: Regularizer) -> None:
        self.regularizers = regularizers
        self.loss = self.data_loss(cross_entropy)

    def data_loss(self, loss: DataLoss) -> DataLoss:
        """``loss`` (the task's, :mod:`netopt.tasks`) as each regularizer in turn transforms it."""
        for name, regularizer in self.regularizers.items():
            with config_key(name):
                loss = regularizer.data_loss(loss)
        return loss

    @classmethod
    def from_config(cls, group: Mapping[str, Any]) -> "Regularizers":
        """The regularizers of the ``regularization`` config group, each built from its ``_target_``; a
        key set to a value rather than a regularizer's fields is refused (an old spelling, pointed on)."""
        built = {}
        for name, node in group.items():
            if not isinstance(node, Mapping):
                pointer = f"set a regularizer's fields, regularization.{name}.<field>=<value>"
                raise UserError(f"regularization.{name}: {MOVED.get(f'regularization.{name}=', pointer)}")
            with config_key(name):
                built[name] = instantiate(node)
        return cls(**built)

    def model_arguments(self, model: Callable[..., nn.Module], options: Mapping[str, Any]) -> dict[str, Any]:
        """What ``model``'s constructor takes from the regularizers. ``options`` are the model's own, as
        configured: an argument a regularizer hands over must be left at the model's default there, and
        no two regularizers may hand over the same argument."""
        defaults = inspect.signature(model).parameters
        arguments: dict[str, Any] = {}
        given: dict[str, str] = {}
        for name, regularizer in self.regularizers.items():
            with config_key(name):
                taken = regularizer.model_arguments(model)
            for key, value in taken.items():
                if key in given:
                    raise UserError(f"regularization.{name}: sets {key} as regularization.{given[key]} does")
                if key in options and options[key] != defaults[key].default:
                    raise UserError(
                        f"model.{key}={options[key]}: also set by regularization.{name}; set one of the two "
                        f"(model.{key} alone, or regularization.{name} with model.{key} at its default "
                        f"{defaults[key].default})"
                    )
                arguments[key], given[key] = value, name
        return arguments

    def attach(self, model: nn.Module) -> None:
        """Each regularizer on the initialized model."""
        for regularizer in self.regularizers.values():
            regularizer.attach(model)

    def penalties(self) -> dict[str, Tensor]:
        """Every switched-on penalty term, by name (each logged as ``train/<name>``)."""
        terms: dict[str, Tensor] = {}
        for regularizer in self.regularizers.values():
            terms |= regularizer.penalties()
        return terms

    def step_hook(self, optimizer: torch.optim.Optimizer) -> Callable[[], None]:
        """What the loop calls after every step of ``optimizer``: each regularizer's hook in turn."""
        hooks = [h for r in self.regularizers.values() if (h := r.step_hook(optimizer)) is not None]
        if len(hooks) <= 1:
            return hooks[0] if hooks else _nothing

        def after_step() -> None:
            for hook in hooks:
                hook()

        return after_step

    def measures(self) -> dict[str, float]:
        """Every regularizer's measures of the model, by name."""
        measured: dict[str, float] = {}
        for regularizer in self.regularizers.values():
            measured |= regularizer.measures()
        return measured
