"""Schema of the ``regularization`` group: plain fields read by the training loop (no ``_target_``).

Every preset uses the same dataclass, so any method can be switched on from the command line on
top of any preset, e.g. ``regularization=l2 regularization.dropout=0.3``.
"""

from dataclasses import dataclass, field

from netopt.schema import bounded, register


@dataclass
class EarlyStoppingConfig:
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` evaluations."""

    patience: int | None = bounded(0, ge=0)  # 0 or null: off
    min_delta: float = bounded(0.0, ge=0.0)
    restore_best: bool = True
    monitor: str = bounded("val_loss", choices=("val_loss", "val_acc"))
    mode: str = bounded("min", choices=("min", "max"))  # min for val_loss, max for val_acc


@dataclass
class RegularizationConfig:
    l1: float = bounded(0.0, ge=0.0)  # loss + l1 * sum |w|
    l2: float = bounded(0.0, ge=0.0)  # loss + l2 / 2 * sum w^2
    penalize_all: bool = False  # also penalize biases and normalization gains (tensors with < 2 dims)
    dropout: float = bounded(0.0, ge=0.0, lt=1.0)  # drop probability, passed to the model
    dropconnect: float = bounded(0.0, ge=0.0, lt=1.0)  # drop probability of each weight
    label_smoothing: float = bounded(0.0, ge=0.0, le=1.0)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)


for _name in ("none", "l1", "l2", "dropout", "dropconnect", "label_smoothing", "early_stopping", "standard"):
    register("regularization", _name, RegularizationConfig)
