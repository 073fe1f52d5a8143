"""Checkpoints: one file per run folder holding the run's config and the state of each of its parts.

``checkpoint.pt`` maps ``config`` to the composed config the run was started with, and every other
key to the ``state_dict`` of one stateful part of the run (the model, the optimizer, the watchers,
the preprocessing, the random generators, the history), named by the caller. It is written
atomically (temporary file, fsync, rename) and read with ``weights_only=True``, so a crash leaves the
old file or the new one, and reading one runs no code from it.
"""

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from netopt.files import Stateful, write_atomic

Part = Stateful | Sequence[Stateful]


def _state(part: Part) -> Any:
    if isinstance(part, Sequence):
        return [p.state_dict() for p in part]
    return part.state_dict()


class Checkpoint:
    """The checkpoint of one run folder: :meth:`save` the parts, :meth:`restore` them from the file.

    ``writes=False`` (the other processes of a data-parallel run): :meth:`save` takes every part's
    state, as some parts gather theirs from every process, but writes nothing.
    """

    def __init__(
        self, path: Path, config: Mapping[str, Any], parts: Mapping[str, Part], writes: bool = True
    ) -> None:
        self.path, self.config, self.parts, self.writes = path, dict(config), dict(parts), writes

    def save(self) -> None:
        """Write the config and every part's state."""
        state = {"config": self.config, **{name: _state(part) for name, part in self.parts.items()}}
        if not self.writes:
            return
        buffer = io.BytesIO()  # serialized first, so a full disk fails only the write below
        torch.save(state, buffer)
        write_atomic(self.path, buffer.getbuffer())

    def restore(self, state: Mapping[str, Any], *names: str) -> None:
        """Load the saved states of the named parts (all when none are named) into them."""
        for name in names or tuple(self.parts):
            part, saved = self.parts[name], state[name]
            if isinstance(part, Sequence):
                for p, s in zip(part, saved, strict=True):
                    p.load_state_dict(s)
            else:
                part.load_state_dict(saved)


class Snapshot:
    """The state of a module at one moment, kept in the checkpoint (the initial weights, which
    ``netopt-landscape`` interpolates from)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}

    def state_dict(self) -> dict[str, Any]:
        return self.state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.state = dict(state)
