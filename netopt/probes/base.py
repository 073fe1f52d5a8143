"""The protocol of a probe: an instrument that observes a run and may act on what it reads.

The loop calls every probe of the run at four moments:

    on_step(t)               after optimizer step t (only probes that override it; keep it cheap)
    on_validation(metrics)   after every validation, with the epoch's metrics by name (the loop's own,
                             ``epoch``, ``step``, ``train_loss_running``, ``train_acc_running``,
                             ``val_loss``, ``val_acc``, and those the probes before it added); returns
                             the metrics it adds, which later probes, the watchers and epochs.csv see
    stop()                   after every validation: ``True`` asks the loop to stop training
    on_fit_end()             after the last epoch, before the final test; entries for metrics.json.
                             Called in reverse order, so that a watcher listed last (early stopping
                             puts back its best weights) acts before the probes measure once more.

Its state (``state_dict`` / ``load_state_dict``) travels in every checkpoint. A probe declares the
metrics it produces with how each improves (:data:`Direction`): :meth:`Probe.metrics` those
:meth:`Probe.on_validation` adds (any of them can be monitored by name, e.g. by early stopping) and
:meth:`Probe.final_metrics` the entries of :meth:`Probe.on_fit_end`. A probe that reads metrics
(a watcher: early stopping, the plateau schedule) names them in :meth:`Probe.monitored` and is handed
every metric the run produces in :meth:`Probe.watch` before training starts.

Every probe is built from its ``_target_`` (``conf/probes/<name>.yaml``) with one argument the runner
supplies, the run's :class:`ProbeContext`; a new probe is its module, one YAML file and its test.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch
from torch import nn

from netopt.data import Data, Split, batches
from netopt.errors import UserError
from netopt.metrics import Direction
from netopt.tasks import CLASSIFICATION, Task, task_of

Batches = list[tuple[torch.Tensor, torch.Tensor]]


class ScalarWriter(Protocol):
    def scalars(self, values: Mapping[str, float], step: int) -> None: ...

    def histogram(self, tag: str, edges: Sequence[float], counts: Sequence[float], step: int) -> None: ...


class NoWriter:
    """Writes nothing: the context of the dry build, before the run's recorder exists."""

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        pass

    def histogram(self, tag: str, edges: Sequence[float], counts: Sequence[float], step: int) -> None:
        pass


@dataclass
class ProbeContext:
    """What the runner hands every probe: the model (unwrapped; the loop trains it in place), its
    optimizer, the run's seed and evaluation settings, and, once the data is on its device, the data
    and the run's recorder (the dry build checks the probes' values before any data is read)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    seed: int = 0
    eval_batch_size: int = 1024
    limit_batches: int | None = None
    data: Data | None = None
    recorder: ScalarWriter = field(default_factory=NoWriter)

    def split(self, name: Literal["train", "val", "test"]) -> Split:
        if self.data is None:
            raise RuntimeError("a probe read the data before the runner handed it over")
        return getattr(self.data, name)

    @property
    def task(self) -> Task:
        """The model's task (:mod:`netopt.tasks`): its loss and the target that loss compares with."""
        return task_of(self.model)

    def fixed_batches(self, samples: int = 1024, batch_size: int = 512) -> Batches:
        """A subset of the training split seeded by the run's seed: the same data at every measure."""
        return fixed_batches(self.split("train"), samples, self.seed, batch_size)

    def target_batches(self, samples: int = 1024, batch_size: int = 512) -> Batches:
        """:meth:`fixed_batches` as (inputs, the task's target) pairs: the labels, or an autoencoder's
        inputs, what ``task.loss`` compares the output with."""
        return [(x, self.task.target(x, y)) for x, y in self.fixed_batches(samples, batch_size)]


def fixed_batches(split: Split, samples: int = 1024, seed: int = 0, batch_size: int = 512) -> Batches:
    """A seeded subset of ``samples`` examples of ``split``, in batches: the same data at every measure."""
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:samples]
    subset = split.take(order.to(split.x.device))
    return list(batches(subset.x, subset.y, batch_size))


class Probe:
    """The protocol, with methods that do nothing; a probe overrides what it needs."""

    def metrics(self) -> dict[str, Direction]:
        """The metrics :meth:`on_validation` adds, with how each improves."""
        return {}

    def final_metrics(self) -> dict[str, Direction]:
        """The entries :meth:`on_fit_end` gives metrics.json, with how each improves."""
        return {}

    def monitored(self) -> tuple[str, ...]:
        """The metrics :meth:`on_validation` reads (none while it is switched off)."""
        return ()

    def watch(self, available: Mapping[str, Direction]) -> None:
        """Before training: check the monitored metrics against ``available``, every metric the run's
        validations produce."""

    def on_step(self, step: int) -> None:
        """After optimizer step ``step`` (0-based)."""

    def on_validation(self, metrics: Mapping[str, float]) -> dict[str, float]:
        """Read one validation's metrics; the metrics it adds."""
        return {}

    def stop(self) -> bool:
        """Whether the loop should stop training after this validation."""
        return False

    def on_fit_end(self) -> dict[str, Any]:
        """After the last epoch, before the final test; entries for metrics.json."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""


def require_model(context: ProbeContext, kind: type[nn.Module], probe: str, option: str) -> None:
    """Refuse a probe on a model it cannot measure, naming the option that builds one."""
    if not isinstance(context.model, kind):
        name = type(context.model).__name__
        raise UserError(f"probes={probe}: measures a model of {option} only, not {name}")


def require_classification(context: ProbeContext, probe: str) -> None:
    """Refuse a probe of the predicted classes on a model without classes (an autoencoder), naming what
    its task allows instead."""
    if (task := context.task) is not CLASSIFICATION:
        name = type(context.model).__name__
        raise UserError(
            f"probes={probe}: measures a classification model only, not {name} ({task.name}: it has no "
            f"classes); leave {probe} out, every other probe measures any task"
        )
