"""The ``trainer`` group: how long a run trains, on what, with which seed, how it logs and resumes.

One dataclass: its fields are the options (with their defaults), ``__post_init__`` their checks. A
field's metadata says what changing it does to a run's result, the one place that is said:
:data:`BOOKKEEPING` fields (where and how a run runs, logs and resumes) leave the trained model as it is,
so run folder names, the HParams table and the report's configurations leave them out and a resumed
run may change them; an :data:`EXTENDABLE` field changes the result, but a resumed run may change it
(to train on for longer). :func:`bookkeeping_keys` and :func:`resumable_keys` read them.
"""

from dataclasses import dataclass, field, fields
from typing import Literal

from netopt.checks import require, require_count

MAX_SEED = 2**63 - 2  # torch seeds are 64-bit; the augmentation stream uses seed + 1
#: The primary config's key, besides ``trainer.*``, that changes no run: the run folder's name.
NAME = "name"
#: The config groups whose presets only set other keys (a run is told apart by those keys).
PRESET_GROUPS = ("experiment", "hparams_search")
BOOKKEEPING = {"bookkeeping": True}
EXTENDABLE = {"extendable": True}


@dataclass
class TrainerSettings:
    """``trainer.*``.

    ``limit_batches`` caps the batches per epoch and split (debug runs); ``linear_scaling_rule``
    multiplies every lr by batch_size / base_batch_size (Goyal et al. 2017); ``norm_lr_scale`` and
    ``norm_weight_decay`` put the normalization layers' gammas and betas in a param group of their
    own, its lr the optimizer's times ``norm_lr_scale`` and its weight decay ``norm_weight_decay``
    (None: the optimizer's), as fast recipes train batch-norm parameters (airbench); ``device`` is auto (CUDA
    when present), cpu, cuda or cuda:N; ``deterministic`` makes CPU runs exactly repeatable;
    ``num_threads`` sets torch's intra-op threads (None: see below); ``resume`` continues from
    the run folder's checkpoint (``auto``: when there is one, else start fresh); ``progress`` draws
    the progress bar; ``schedule_epochs`` is the run length the lr schedule is laid over (None:
    max_epochs; Hyperband sets its largest budget, so a promoted trial continues its schedule);
    ``strategy`` is ``single`` (one process) or ``ddp`` (data parallel over the processes torchrun or
    a SLURM job started, each with a shard of every batch of ``batch_size``: see
    :mod:`netopt.distributed`); ``grad_norm_every``: without clipping
    (``clip=none``) the gradient norm ``train/grad_norm`` is measured every N steps (a clipping method
    measures it at every step anyway); measuring it costs three small kernels a step.

    On a GPU: ``precision`` is ``fp32``, ``bf16`` or ``fp16``, the forward pass under autocast to that
    type, fp16 with dynamic loss scaling (:mod:`netopt.precision`); ``channels_last`` stores a conv
    net's weights and input batches channels-last (NHWC), which tensor cores want (``auto``: for a
    model with convolutions on CUDA; ``true``: for one with convolutions on any device; a model
    without convolutions is never converted); ``compile`` runs the model's forward pass through
    ``torch.compile`` (one warning and the eager model where no compiler works);
    ``compile_optimizer`` runs the optimizer's update through ``torch.compile``, compiled once
    (:func:`netopt.optim.compile_update`; likewise one warning and the eager update).

    ``num_threads=None`` is one thread in a single run: more threads mostly wait on each other for
    models this small, the more so on a machine shared with other work. In a multirun it is torch's
    default in each job, which joblib's launcher caps at cores / n_jobs.
    """

    max_epochs: int = field(default=20, metadata=EXTENDABLE)
    batch_size: int = 64
    eval_batch_size: int = field(default=1024, metadata=BOOKKEEPING)
    limit_batches: int | None = None
    linear_scaling_rule: bool = False
    base_batch_size: int = 64
    norm_lr_scale: float = 1.0
    norm_weight_decay: float | None = None
    device: str = field(default="auto", metadata=BOOKKEEPING)
    seed: int = 0
    deterministic: bool = True
    num_threads: int | None = field(default=None, metadata=BOOKKEEPING)
    resume: bool | Literal["auto"] = field(default=False, metadata=BOOKKEEPING)
    progress: bool = field(default=True, metadata=BOOKKEEPING)
    schedule_epochs: int | None = None
    strategy: Literal["single", "ddp"] = "single"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    channels_last: bool | Literal["auto"] = "auto"
    compile: bool = False
    compile_optimizer: bool = False
    grad_norm_every: int = field(default=10, metadata=BOOKKEEPING)

    def __post_init__(self) -> None:
        require_count(
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            eval_batch_size=self.eval_batch_size,
            limit_batches=self.limit_batches,
            base_batch_size=self.base_batch_size,
            num_threads=self.num_threads,
            schedule_epochs=self.schedule_epochs,
            grad_norm_every=self.grad_norm_every,
        )
        require(
            isinstance(self.seed, int) and 0 <= self.seed <= MAX_SEED,
            "seed",
            f"in [0, {MAX_SEED}]",
            self.seed,
        )
        require(self.norm_lr_scale > 0, "norm_lr_scale", "> 0", self.norm_lr_scale)
        wd = self.norm_weight_decay
        require(wd is None or wd >= 0, "norm_weight_decay", ">= 0 or null (the optimizer's)", wd)
        require(self.resume in (True, False, "auto"), "resume", "true, false or auto", self.resume)
        require(self.strategy in ("single", "ddp"), "strategy", "single or ddp", self.strategy)
        require(self.precision in ("fp32", "bf16", "fp16"), "precision", "fp32, bf16 or fp16", self.precision)
        allowed = "auto, true or false"
        require(self.channels_last in (True, False, "auto"), "channels_last", allowed, self.channels_last)
        require(isinstance(self.compile, bool), "compile", "true or false", self.compile)
        compile_optimizer = self.compile_optimizer
        require(isinstance(compile_optimizer, bool), "compile_optimizer", "true or false", compile_optimizer)


def _marked(*flags: str) -> tuple[str, ...]:
    return tuple(
        f"trainer.{f.name}" for f in fields(TrainerSettings) if any(f.metadata.get(k) for k in flags)
    )


def bookkeeping_keys() -> tuple[str, ...]:
    """The keys that leave a run's result unchanged (besides Hydra's own, ``hydra.*``)."""
    return (NAME, *_marked("bookkeeping"), *PRESET_GROUPS)


def resumable_keys() -> tuple[str, ...]:
    """The config keys a resumed run may change: the bookkeeping ones and the run's length."""
    return (NAME, *_marked("bookkeeping", "extendable"))
