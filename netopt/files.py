"""Writing the files of a run folder atomically: a crash, a full disk or a signal leaves the old file
or the new one, never half of one, and a file that cannot be written is one line naming it."""

import os
from pathlib import Path

from netopt.errors import UserError


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
