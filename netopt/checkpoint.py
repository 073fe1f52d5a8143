"""Checkpoints: written atomically (temp file, fsync, rename), read with ``weights_only=True``."""

import os
from pathlib import Path
from typing import Any

import torch

from netopt.errors import UserError


def save(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` to ``path`` so that a crash leaves either the old or the new file, never half."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path: Path, key: str = "trainer.resume") -> dict[str, Any]:
    """Read a checkpoint on the CPU; a truncated or foreign file is a :class:`UserError` naming ``key``."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{key}: no checkpoint at {path}") from None
    except Exception as error:  # torch raises several kinds for a damaged file
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{key}: {path} is not a readable checkpoint ({reason})") from None
