"""Early stopping: stop training when a validation metric stops improving, keep the best weights.

Watch ``monitor`` after every validation and stop when it has not improved by more than
``min_delta`` for ``patience`` validations in a row; optionally put back the weights of the best
validation before the final test (the chapter's early stopping, Qiu Xipeng, Neural Networks and
Deep Learning, ch. 7). It controls training rather than regularizing the model, so it is a config
group of its own (``early_stopping``).
"""

import logging
from collections.abc import Mapping
from typing import Any, Literal

from torch import Tensor, nn

from netopt.checks import require_count, require_nonnegative
from netopt.probes.monitor import Watcher

log = logging.getLogger(__name__)


class EarlyStopping(Watcher):
    """Early stopping on ``monitor``, any metric of the run's validations (a
    :class:`netopt.probes.monitor.Watcher`), the best weights of ``model`` kept for restoring.

    ``patience`` 0 switches stopping off (the best value and epoch are still tracked). ``mode``
    follows from the monitor: accuracies are maximized, losses minimized, a probe's metric as the
    probe declares it. A validation without the metric (a probe that measures every few epochs) does
    not count. The default, ``val_loss``, is every task's (:mod:`netopt.tasks`); a metric the model's
    task has not (an autoencoder's ``val_acc``) is refused before training.
    """

    def __init__(
        self,
        model: nn.Module,
        patience: int = 0,
        min_delta: float = 0.0,
        restore_best: bool = True,
        monitor: str = "val_loss",
        mode: Literal["min", "max"] | None = None,
    ) -> None:
        require_count(0, patience=patience)
        require_nonnegative(min_delta=min_delta)
        self.model, self.patience, self.min_delta, self.restore_best = (
            model,
            patience,
            min_delta,
            restore_best,
        )
        super().__init__(monitor, mode)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.bad_evaluations = 0
        self.best_state: dict[str, Tensor] | None = None

    @property
    def enabled(self) -> bool:
        return self.patience > 0

    def monitored(self) -> tuple[str, ...]:
        return (self.monitor,) if self.enabled else ()

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        sign = 1.0 if self.mode == "max" else -1.0
        return sign * (value - self.best) > self.min_delta

    def on_validation(self, metrics: Mapping[str, float]) -> dict[str, float]:
        """Record the monitored metric of one validation; snapshot the model on improvement."""
        if self.monitor not in metrics:
            return {}
        value, epoch = float(metrics[self.monitor]), int(metrics["epoch"])
        if self.improved(value):
            self.best, self.best_epoch, self.bad_evaluations = value, epoch, 0
            if self.enabled and self.restore_best:
                self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        else:
            self.bad_evaluations += 1
        if self.stop():
            self.stopped_epoch = epoch
            log.info(
                "early stopping at epoch %d: no better %s since epoch %d",
                epoch,
                self.monitor,
                self.best_epoch,
            )
        return {}

    def stop(self) -> bool:
        return self.enabled and self.bad_evaluations >= self.patience

    def on_fit_end(self) -> dict[str, Any]:
        """Put back the best weights if a snapshot was kept; the epochs stopped at and restored."""
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
            log.info("restored the weights of epoch %d for testing", self.best_epoch)
        restored = self.best_epoch if self.best_state is not None else None
        return {"stopped_epoch": self.stopped_epoch, "restored_epoch": restored}

    def state_dict(self) -> dict[str, Any]:
        keys = ("best", "best_epoch", "stopped_epoch", "bad_evaluations", "best_state")
        return {key: getattr(self, key) for key in keys}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)
