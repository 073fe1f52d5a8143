"""The files of a run folder: written atomically (a crash, a full disk or a signal leaves the old file
or the new one, never half of one), checkpoints read without running code from them
(``weights_only=True``), and a file that cannot be written or read is one line naming it."""

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import torch

from netopt.errors import UserError, first_line


class Stateful(Protocol):
    def state_dict(self) -> Mapping[str, Any]: ...

    def load_state_dict(self, state: Any, /) -> Any: ...


def write_atomic(path: Path, data: bytes | memoryview) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then rename it to ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise UserError(f"{path}: cannot write it ({error.strerror or error})") from None
        raise


def write_text(path: Path, text: str) -> None:
    """``path.write_text(text)``, atomically."""
    write_atomic(path, text.encode("utf-8"))


#: The first bytes of what ``torch.save`` writes: a zip archive, or (before torch 1.6) a pickle.
CHECKPOINT_MAGIC = (b"PK\x03\x04", b"\x80")


def read_checkpoint(path: Path, key: str = "trainer.resume") -> dict[str, Any]:
    """Read a checkpoint on the CPU; a missing, truncated or foreign file is a :class:`UserError`
    naming ``key``. Only a regular file that starts as torch.save's files do is handed to torch (a
    device such as /dev/zero is never read; a text file gets this line, not torch's)."""
    try:
        if not path.is_file():
            what = "no checkpoint at" if not path.exists() else "not a regular file:"
            raise UserError(f"{key}: {what} {path}")
        with open(path, "rb") as f:
            magic = f.read(4)
        if not magic.startswith(CHECKPOINT_MAGIC):
            raise UserError(f"{key}: {path} is not a readable checkpoint (not a file torch.save wrote)")
        return torch.load(path, map_location="cpu", weights_only=True)
    except UserError:
        raise
    except pickle.UnpicklingError:  # weights_only refused what it holds: nothing of it ran
        raise UserError(
            f"{key}: {path} holds objects other than tensors and plain data; not loaded"
        ) from None
    except Exception as error:  # torch raises several kinds for a damaged file
        raise UserError(f"{key}: {path} is not a readable checkpoint ({first_line(error)})") from None
