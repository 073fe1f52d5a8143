"""The fork of population-based training: a trial continues from another trial's checkpoint.

Before its job starts, the trial's new run folder gets a copy of the checkpoint of its parent's
latest finished job, and ``fork.json``: the parent trial and run folder, the epoch it forks at, the
values the parent trained with and the ones the trial goes on with. A run resumed in a folder with
``fork.json`` may differ from its checkpoint's config in exactly those keys (the sanctioned
exception to resume's refusal of changed settings: :meth:`netopt.run.folder.RunFolder.resumable`),
and the run keeps the optimizer's state (its moments) but trains with the values of its own config
(:func:`take_hyperparameters`); the chain of fork.json files is the population's lineage.

A member that trains on overwrites its checkpoint, so when a job ends its checkpoint is also kept
as it was at that epoch (:func:`keep`, ``checkpoint.epoch<e>.pt``): an asynchronous fork copies
that one, the donor's state at the epoch it was ranked at, whatever the donor trained since.
"""

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from netopt.errors import UserError
from netopt.files import write_text
from netopt.hpo.trials import Job, Record

FORK = "fork.json"


def fork(job: Job, records: Sequence[Record], folder: Path, checkpoint: str) -> None:
    """Copy the checkpoint file ``checkpoint`` of ``job.parent``'s latest finished job short of the
    job's budget (the epoch the fork starts at) into ``folder`` and write ``fork.json`` beside it."""
    short = [r for r in records if job.budget is None or (r.budget or 0) < job.budget]
    done = [r for r in short if r.trial == job.parent and r.finished and r.run_dir]
    if not done:
        raise UserError(
            f"trial {job.trial}: its parent, trial {job.parent}, has no finished job to fork from"
        )
    parent = max(done, key=lambda r: r.budget or 0)
    source = kept(Path(parent.run_dir) / checkpoint, parent.budget)
    if not source.exists():
        source = Path(parent.run_dir) / checkpoint
    if not source.exists():
        raise UserError(f"hydra.sweeper.checkpoint={checkpoint}: trial {job.parent} left no {source}")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, folder / checkpoint)
    lineage = {
        "parent": job.parent,
        "parent_run_dir": parent.run_dir,
        "epoch": parent.epochs if parent.epochs is not None else parent.budget,
        "parent_params": parent.params,
        "params": job.params,
        "changed": sorted(k for k in job.params if job.params[k] != parent.params.get(k)),
    }
    write_text(folder / FORK, json.dumps(lineage, default=str, indent=1))


def kept(path: Path, epoch: int | None) -> Path:
    """Where :func:`keep` keeps the checkpoint ``path`` of epoch ``epoch``."""
    return path.with_name(f"{path.stem}.epoch{epoch}{path.suffix}")


def keep(run_dir: Path, checkpoint: str, epoch: int | None) -> None:
    """Keep a copy of the run's checkpoint as it is now, at epoch ``epoch`` (none if it has none)."""
    path = Path(run_dir) / checkpoint
    if path.exists():
        shutil.copyfile(path, kept(path, epoch))


def forked_keys(folder: Path) -> set[str]:
    """The config keys a fork into ``folder`` changed (none without fork.json)."""
    path = folder / FORK
    if not path.exists():
        return set()
    try:
        lineage: Any = json.loads(path.read_text())
        return {key.lstrip("+~") for key in lineage["changed"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise UserError(f"{path}: not the record of a fork; remove it, or choose another folder") from None


def hyperparameters(optimizer: torch.optim.Optimizer) -> list[dict[str, Any]]:
    """The values of each param group (lr, momentum, weight_decay...), without its parameters."""
    return [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]


def take_hyperparameters(optimizer: torch.optim.Optimizer, values: list[dict[str, Any]]) -> None:
    """Give the param groups of a restored optimizer the ``values`` of the config it was built from;
    the learning rate its schedule scales is the new one (the loop sets ``initial_lr`` from ``lr``)."""
    for group, own in zip(optimizer.param_groups, values, strict=True):
        group.pop("initial_lr", None)
        group.update(own)
