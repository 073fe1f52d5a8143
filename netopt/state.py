"""Where a training run stands, saved in every checkpoint so that a resumed run continues exactly:
:class:`History` (epochs and steps done, the latest metrics, one row per epoch), :class:`RandomState`
(the run's random streams) and :class:`Hits` (the epoch's correct predictions, counted in bulk).
"""

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from torch import Tensor

from netopt.metrics import Direction


class Hits:
    """The number of correct predictions (argmax of the logits == target) over an epoch's batches,
    counted in bulk: the detached logits and targets of ``every`` batches are kept (``every`` batches
    of logits in memory at most), then counted in one go. Counting each batch as it comes costs
    three small ops and a read to the host a step. The
    count stays on the device until :meth:`total`."""

    def __init__(self, every: int = 32) -> None:
        self.every = every
        self.pending: list[tuple[Tensor, Tensor]] = []
        self.count: Tensor | int = 0

    def add(self, logits: Tensor, target: Tensor) -> None:
        self.pending.append((logits.detach(), target))
        if len(self.pending) == self.every:
            self._count()

    def _count(self) -> None:
        if self.pending:
            logits, target = (torch.cat(parts) for parts in zip(*self.pending, strict=True))
            self.count = self.count + (logits.argmax(dim=1) == target).sum()
            self.pending.clear()

    def total(self) -> Tensor:
        """The count so far, a 0-dim tensor."""
        self._count()
        return torch.as_tensor(self.count)


@dataclass
class History:
    """Where the run stands; saved in every checkpoint so a resumed run continues exactly."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken; train scalars are logged at the 0-based step t, epoch ones at
    # the epoch's last step, so a resumed run purges exactly what it redoes
    train_loss_running: float = math.nan  # mean loss over the last epoch's batches (train mode, augmented)
    train_acc_running: float = math.nan  # accuracy over the last epoch's batches, as they were trained
    val_loss: float = math.nan
    val_acc: float = math.nan
    val_ece: float = math.nan  # expected calibration error (netopt.calibration)
    best_val_acc: float = math.nan  # the best of the task's monitored metric (netopt.tasks.Task.monitor)
    best_val_loss: float = math.nan  # so far, by name; best_epoch: the epoch it was reached
    best_epoch: int = 0
    train_samples: int = 0
    train_time_s: float = 0.0
    wall_time_s: float = 0.0
    stopped: bool = False  # a watcher asked to stop
    epochs: list[dict[str, float]] = field(default_factory=list)  # one row of metrics per epoch

    def keep_best(self, monitor: str, mode: Direction) -> None:
        """After a validation: if the latest ``monitor`` (``val_acc`` or ``val_loss``) beats its best so
        far (higher for ``mode`` max, lower for min; the first one always), it is the best, reached at
        this epoch."""
        value, best = getattr(self, monitor), getattr(self, f"best_{monitor}")
        if math.isnan(best) or (value > best if mode == "max" else value < best):
            setattr(self, f"best_{monitor}", value)
            self.best_epoch = self.epoch

    def best(self, monitor: str) -> dict[str, float]:
        """The final metrics of the best epoch: ``best_val_acc`` (NaN where it is not the monitored
        metric), ``best_<monitor>`` and ``best_epoch``."""
        best = {"best_val_acc": self.best_val_acc, f"best_{monitor}": getattr(self, f"best_{monitor}")}
        return best | {"best_epoch": self.best_epoch}

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """The state of :meth:`state_dict`; a checkpoint written before the running train values were
        named apart holds them as ``train_loss``/``train_acc``, in its rows too."""
        known = {f.name for f in fields(self)}
        old = {k: f"{k}_running" for k in state if k not in known and f"{k}_running" in known}
        rows = [{old.get(k, k): v for k, v in row.items()} for row in state["epochs"]]
        self.__init__(**{old.get(k, k): v for k, v in state.items()} | {"epochs": rows})  # type: ignore[misc]


class RandomState:
    """The run's random streams: torch's global generator (initialization, dropout), the data order,
    and the augmentation draws on the data's device."""

    def __init__(self, seed: int, device: torch.device) -> None:
        torch.manual_seed(seed)
        self.order = torch.Generator().manual_seed(seed)
        self.noise = torch.Generator(device).manual_seed(seed + 1)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "torch": torch.get_rng_state(),
            "order": self.order.get_state(),
            "noise": self.noise.get_state(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        self.order.set_state(state["order"])
        self.noise.set_state(state["noise"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
