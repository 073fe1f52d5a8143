"""Data-parallel training: the processes of one run, each one's shard of every batch, and the few
reductions that make N processes train as one (``trainer.strategy=ddp``).

Every process holds a replica of the model, wrapped in torch's ``DistributedDataParallel``, which
averages the gradients over the processes during ``backward`` (Li et al. 2020, PyTorch
Distributed: Experiences on Accelerating Data Parallel Training). ``trainer.batch_size`` stays the
global batch B: every process draws the same permutation of the training set from the same seeded
generator and takes its contiguous slice of each batch (n_r of the B samples, sizes differing by at
most one). Process r back-propagates its batch-mean loss L_r times N n_r / B, so the averaged
gradient is that of the global batch mean sum_r n_r / B * L_r whatever the slice sizes; that mean is
also the loss the loop logs (all-reduced every step, so every process sees a divergence at the same
step). Accuracy counts and the evaluation's loss and accuracy sums are all-reduced: evaluation is
sharded like training and its metrics are over the whole split. Clipping, SAM and the penalties need
nothing more: they act on gradients DDP has already averaged, on weights that are the same on every
process. Batch norm synchronizes its statistics itself (``norm.sync=true``, :mod:`netopt.nn.norm`);
without it each process normalizes its own slice, and the running statistics that evaluation uses
are rank 0's (DDP broadcasts its buffers before a forward pass).

Rank 0, the main process, alone writes the run's records (TensorBoard, checkpoint, epochs.csv,
metrics.json, .hydra) and claims the run folder; the others learn its decisions
(:func:`netopt.run.folder.run_folder`) and end with the same one line and exit status when it
refuses. Every process restores the
checkpoint; the random streams that differ between processes (dropout, augmentation) are saved for
each. The processes come from torchrun (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``) or are the tasks of a submitit job (SLURM, ``hydra/launcher=slurm``); they talk
over gloo on the CPU and NCCL on CUDA, one GPU per process (``cuda:LOCAL_RANK``).
"""

import atexit
import logging
import os
import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

from netopt.data.batches import num_batches
from netopt.errors import UserError, first_line, user_error
from netopt.files import Stateful

T = TypeVar("T")
#: What gloo and NCCL say when a peer process died (a plain RuntimeError from DDP's backward).
LOST = re.compile(r"gloo|nccl|connection (closed|reset)|broken pipe", re.IGNORECASE)
LAUNCH = "torchrun --nproc_per_node=N -m netopt.cli.train ... trainer.strategy=ddp"


def host_values(values: Sequence[Tensor]) -> list[float]:
    """0-dim tensors as Python numbers: on the CPU each read directly (stacking them first costs more
    than it saves on a small model), else stacked into one copy to the host (one synchronization)."""
    if all(value.is_cpu for value in values):
        return [value.item() for value in values]
    return torch.stack(list(values)).tolist()  # promoted to the first one's dtype (the loss's)


class World:
    """One process training alone (``trainer.strategy=single``): every method is the identity.

    The base of :class:`DataParallel`; the training loop calls these methods and stays the same
    loop, and the single-process path costs nothing more.
    """

    rank = 0
    size = 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run's records and prints (rank 0)."""
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model the loop trains (DDP's wrapper around it)."""
        return model

    def shard(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, int]:
        """This process's slice of a global batch, and the global batch's size."""
        return x, y, len(y)

    def weigh(self, loss: Tensor, local: int, total: int) -> Tensor:
        """The objective to back-propagate for a batch-mean ``loss`` of ``local`` of ``total`` samples."""
        return loss

    def merge(self, step: Sequence[Tensor], local: int, total: int) -> list[float]:
        """A training step's scalars over the global batch, read to the host: ``step`` holds 0-dim
        tensors, the batch-mean loss, then values every process shares (gradient norm, penalties)."""
        return host_values(step)

    def sum(self, values: Tensor) -> Tensor:
        """``values`` summed over the processes."""
        return values

    def own_streams(self, *generators: torch.Generator) -> None:
        """Give this process random streams of its own: torch's global one (dropout) and
        ``generators`` (augmentation); rank 0 keeps those of a single process."""

    def per_process(self, part: Stateful) -> Stateful:
        """``part`` for the checkpoint, when it differs between processes (the random streams)."""
        return part

    def check_batches(self, n: int, batch_size: int, limit: int | None) -> None:
        """Refuse batches that would leave a process without samples."""

    def lost(self, error: BaseException) -> UserError | None:
        """The one line for ``error`` when it says another process of the run stopped; else None."""
        return None


class DataParallel(World):
    """Process ``rank`` of ``size`` of a data-parallel run, on ``device`` (see the module docstring)."""

    def __init__(self, rank: int, size: int, device: torch.device) -> None:
        self.rank, self.size, self.device = rank, size, device

    def wrap(self, model: nn.Module) -> nn.Module:
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def shard(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, int]:
        return x.tensor_split(self.size)[self.rank], y.tensor_split(self.size)[self.rank], len(y)

    def weigh(self, loss: Tensor, local: int, total: int) -> Tensor:
        factor = local * self.size / total  # DDP divides the summed gradients by size
        return loss if factor == 1 else loss * factor

    def merge(self, step: Sequence[Tensor], local: int, total: int) -> list[float]:
        stacked = torch.stack(list(step))  # promoted to the loss's dtype
        loss = stacked[:1] * (local / total)
        dist.all_reduce(loss)
        return torch.cat([loss, stacked[1:]]).tolist()

    def sum(self, values: Tensor) -> Tensor:
        values = values.clone()
        dist.all_reduce(values)
        return values

    def own_streams(self, *generators: torch.Generator) -> None:
        if self.rank:
            torch.manual_seed(_stream_seed(torch.initial_seed(), self.rank))
            for generator in generators:
                generator.manual_seed(_stream_seed(generator.initial_seed(), self.rank))

    def per_process(self, part: Stateful) -> Stateful:
        return _PerProcess(part, self)

    def check_batches(self, n: int, batch_size: int, limit: int | None) -> None:
        smallest = min(batch_size, n - (num_batches(n, batch_size, limit) - 1) * batch_size)
        if smallest < self.size:
            raise UserError(
                f"trainer.batch_size={batch_size}: each of the {self.size} processes needs a sample of "
                f"every batch, and the last batch of the {n} training samples holds {smallest}; choose a "
                f"batch size of at least {self.size} that divides {n} or leaves at least {self.size}"
            )

    def lost(self, error: BaseException) -> UserError | None:
        if user_error(error) is not None or not (
            isinstance(error, dist.DistError) or LOST.search(str(error))
        ):
            return None
        reason = re.sub(r"^\[[^\]]*\]\s*", "", first_line(error)).split(". ")[0]  # without gloo's source line
        return UserError(
            f"trainer.strategy=ddp: another process of the run stopped ({reason}); the last epoch's "
            f"checkpoint is kept: resume with trainer.resume=true on {self.size} processes"
        )

    # --- decisions of the main process ---------------------------------------------------------
    def broadcast(self, value: T) -> T:
        """The main process's ``value`` on every process."""
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def tell(self, decide: Callable[[], T], message: Callable[[T], Any] = lambda v: v) -> T:
        """On the main process: ``decide``, and send the others ``message`` of its result, or the
        one line of the :class:`UserError` it raised (which is raised here too)."""
        try:
            value = decide()
        except Exception as error:
            cause = user_error(error)
            self.broadcast(
                ("refused", str(cause)) if cause else ("failed", f"{type(error).__name__}: {error}")
            )
            raise
        self.broadcast(("decided", message(value)))
        return value

    def hear(self) -> Any:
        """On the other processes: what :meth:`tell` sent, or raise the main process's refusal."""
        kind, value = self.broadcast(("", None))
        if kind == "refused":
            raise UserError(value)
        if kind == "failed":
            raise RuntimeError(f"the main process failed: {value}")
        return value


def _stream_seed(seed: int, rank: int) -> int:
    """A seed for process ``rank``'s stream, derived from the run's (a hash: nearby seeds and ranks
    give unrelated streams)."""
    return random.Random(f"{seed}/{rank}").getrandbits(63)


class _PerProcess:
    """A part whose state differs between processes: saved as every process's state in rank order
    (gathered to every process; the main one writes them), restored by each from its own."""

    def __init__(self, part: Stateful, world: DataParallel) -> None:
        self.part, self.world = part, world

    def state_dict(self) -> dict[str, Any]:
        states: list[Any] = [None] * self.world.size
        dist.all_gather_object(states, self.part.state_dict())
        return {"processes": states}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        states = state.get("processes")
        if states is None or len(states) != self.world.size:
            written = "a single process" if states is None else f"{len(states)} processes"
            raise UserError(
                f"trainer.resume: the checkpoint was written by {written}, this run has {self.world.size}; "
                "resume with as many"
            )
        self.part.load_state_dict(states[self.world.rank])


def launched() -> tuple[int, int, int] | None:
    """(rank, local rank, size) of this process as its launcher started it: torchrun's variables, or
    a submitit task's (which are exported as torchrun's); None for a process started alone."""
    if "WORLD_SIZE" not in os.environ and os.environ.get("SUBMITIT_EXECUTOR"):
        import submitit  # a task of a submitit job (SLURM, or submitit's local executor)

        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
    if "WORLD_SIZE" not in os.environ:
        return None
    return int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0)), int(os.environ["WORLD_SIZE"])


def join(strategy: str, device: torch.device) -> tuple[World, torch.device]:
    """The processes of this run and this process's device.

    ``single``: this process alone (refused when a launcher started several). ``ddp``: every process
    the launcher started, joined into torch's default process group (once per process: the jobs of a
    multirun share it), each on ``cuda:LOCAL_RANK`` when ``device`` is CUDA. The processes other
    than the main one log warnings only.
    """
    place = launched()
    if strategy == "single":
        if place is not None and place[2] > 1:
            raise UserError(
                f"trainer.strategy=single: this is one of {place[2]} processes started together; "
                "set trainer.strategy=ddp to train with all of them"
            )
        return World(), device
    if place is None:
        raise UserError(f"trainer.strategy=ddp: no processes to train with; start it with {LAUNCH}")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"trainer.device={device}: data-parallel training runs on cpu or cuda")
    rank, local_rank, size = place
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        if device.type == "cuda":
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
        atexit.register(dist.destroy_process_group)
    if rank:
        _quiet()
    return DataParallel(rank, size, device), device


def _quiet() -> None:
    """Silence a process other than the main one: no log file, no records below WARNING."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, logging.FileHandler)]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.WARNING)


def is_main_process() -> bool:
    """Whether this process prints a run's results: rank 0, or a process outside a process group."""
    return not dist.is_initialized() or dist.get_rank() == 0
