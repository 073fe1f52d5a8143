"""Schema of the ``trainer`` group: how long, on what, with which seed, how to log and resume."""

from dataclasses import dataclass

from netopt.schema import bounded, register


@dataclass
class TrainerConfig:
    max_epochs: int = bounded(20, ge=1)
    batch_size: int = bounded(64, ge=1)
    eval_batch_size: int = bounded(1024, ge=1)
    limit_batches: int | None = bounded(None, ge=1)  # at most this many batches per epoch and split (debug)
    # lr = optimizer.lr * batch_size / base_batch_size (the linear scaling rule), off by default
    linear_scaling_rule: bool = False
    base_batch_size: int = bounded(64, ge=1)
    device: str = "auto"  # auto (CUDA when present) | cpu | cuda | cuda:N
    seed: int = 0
    deterministic: bool = True  # deterministic algorithms (exact on CPU)
    num_threads: int | None = bounded(None, ge=1)  # torch intra-op threads (null: torch's default)
    resume: bool = False  # continue from <run dir>/checkpoint.pt when it exists
    progress: bool = True  # rich progress bar
    diagnostics_every: int = bounded(0, ge=0)  # per-layer activation/gradient stats every N steps (0: off)


register("trainer", "default", TrainerConfig)
