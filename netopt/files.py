"""Writing the files of a run folder atomically: a crash, a full disk or a signal leaves the old file
or the new one, never half of one, and a file that cannot be written is one line naming it."""

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from netopt.errors import UserError


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write`` on a temporary file beside ``path``, flush it to disk, then rename it to ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise UserError(f"{path}: cannot write it ({error.strerror or error})") from None


def write_text(path: Path, text: str) -> None:
    """``path.write_text(text)``, atomically."""
    write_atomic(path, lambda f: f.write(text.encode("utf-8")))
