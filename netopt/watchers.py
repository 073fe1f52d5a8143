"""Components that react to validation, behind one small protocol the training loop calls.

After every validation the loop hands each watcher the epoch's metrics by name (``epoch``, ``step``,
``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``); a watcher may ask the loop to stop, and
before the final test it may act once more (early stopping puts back its best weights). Its state
travels in the checkpoint. Early stopping and the plateau schedule are watchers; a new one
implements these methods and touches nothing else.
"""

from collections.abc import Mapping
from typing import Any

from netopt.checks import require, require_choice

#: The metrics a watcher can monitor, by name.
MONITORED = ("val_loss", "val_acc", "train_loss", "train_acc")


class Watcher:
    """The protocol, with methods that do nothing; subclasses override what they need."""

    def monitored(self) -> tuple[str, ...]:
        """The metrics :meth:`on_validation` reads (none while it is switched off)."""
        return ()

    def on_validation(self, metrics: Mapping[str, float]) -> bool:
        """Record one validation's metrics; ``True`` asks the loop to stop training."""
        return False

    def on_fit_end(self) -> dict[str, Any]:
        """After the last epoch, before the final test; entries for metrics.json."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""


def metric_mode(monitor: str, mode: str | None) -> str:
    """How ``monitor`` improves: ``"max"`` for an accuracy, ``"min"`` for a loss. ``mode`` may say so
    again; one that contradicts the metric is refused (it would stop when the metric improves)."""
    require_choice("monitor", monitor, MONITORED)
    natural = "max" if monitor.endswith("acc") else "min"
    require(mode in (None, natural), "mode", f"{natural} (or null) for {monitor}", mode)
    return natural
