"""Regularization in the loss and in the schedule of training: L1/L2 penalties and early stopping.

Penalties (SPEC section 9) are added to the data loss,

    loss = data_loss + l1 * sum_w |w| + l2 / 2 * sum_w w^2,

over the weights only by default: the tensors with fewer than two dimensions (biases, batch/layer/
group norm gains and shifts) are left alone, as is usual practice; weight norm's gain g, of shape
(out, 1, ...), counts as a weight. The chapter penalizes every parameter. Weight decay (SPEC section 1)
is the optimizers' ``weight_decay`` instead: coupled, i.e. this L2 penalty, in SGD and Adam;
decoupled in AdamW.

Early stopping watches a validation metric after each evaluation and stops when it has not
improved by more than ``min_delta`` for ``patience`` evaluations in a row, optionally putting
back the weights of the best evaluation.
"""

from collections.abc import Sequence

from torch import Tensor, nn


def penalized_parameters(model: nn.Module, penalize_all: bool = False) -> list[nn.Parameter]:
    """The trainable parameters the penalties apply to: those with >= 2 dims unless ``penalize_all``."""
    return [p for p in model.parameters() if p.requires_grad and (penalize_all or p.dim() >= 2)]


def penalties(params: Sequence[Tensor], l1: float = 0.0, l2: float = 0.0) -> dict[str, Tensor]:
    """The penalty terms that are switched on, ``{"l1": l1 * sum|w|, "l2": l2 / 2 * sum w^2}``.

    Each is a differentiable 0-dim tensor; add their sum to the loss and log each on its own.
    """
    terms = {}
    if l1:
        terms["l1"] = l1 * sum(p.abs().sum() for p in params)
    if l2:
        terms["l2"] = 0.5 * l2 * sum(p.square().sum() for p in params)
    return terms


class EarlyStopping:
    """Early stopping on a validation metric, with the best weights kept for restoring.

    Call :meth:`step` after every evaluation; it returns ``True`` when training should stop.
    ``patience`` 0 or ``None`` switches stopping off (the best value and epoch are still tracked).
    ``mode`` is ``"min"`` for a loss, ``"max"`` for an accuracy; an evaluation improves when it
    beats the best by more than ``min_delta``.
    """

    def __init__(
        self,
        patience: int | None = 0,
        min_delta: float = 0.0,
        restore_best: bool = True,
        monitor: str = "val_loss",
        mode: str = "min",
    ) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.patience = patience or 0
        self.min_delta = min_delta
        self.restore_best = restore_best
        self.monitor = monitor
        self.mode = mode
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.bad_evaluations = 0
        self.best_state: dict[str, Tensor] | None = None

    @property
    def enabled(self) -> bool:
        return self.patience > 0

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        sign = 1.0 if self.mode == "max" else -1.0
        return sign * (value - self.best) > self.min_delta

    def step(self, value: float, epoch: int, model: nn.Module | None = None) -> bool:
        """Record the metric of evaluation ``epoch``; snapshot ``model`` on improvement; ``True`` = stop."""
        value = float(value)
        if self.improved(value):
            self.best, self.best_epoch, self.bad_evaluations = value, epoch, 0
            if model is not None and self.enabled and self.restore_best:
                self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.bad_evaluations += 1
        if self.enabled and self.bad_evaluations >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def restore(self, model: nn.Module) -> bool:
        """Load the best weights into ``model`` if a snapshot was kept; ``True`` if it did."""
        if self.best_state is None:
            return False
        model.load_state_dict(self.best_state)
        return True

    def state_dict(self) -> dict:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "stopped_epoch": self.stopped_epoch,
            "bad_evaluations": self.bad_evaluations,
            "best_state": self.best_state,
        }

    def load_state_dict(self, state: dict) -> None:
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        self.stopped_epoch = state["stopped_epoch"]
        self.bad_evaluations = state["bad_evaluations"]
        self.best_state = state["best_state"]
