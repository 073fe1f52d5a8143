"""The folder a study writes into: checked before any work is done, so that a folder that cannot be
written costs the user one line and no wait."""

from pathlib import Path

from netopt.errors import UserError


def require_writable(folder: Path, key: str, hint: str = "") -> None:
    """Create ``folder`` if needed and write (then remove) a file in it; a failure is a
    :class:`UserError` naming ``key``, the reason and ``hint``."""
    probe = folder / ".netopt-probe"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(probe, "w"):
            pass
        probe.unlink()
    except OSError as error:
        raise UserError(f"{key}={folder}: cannot write there ({error.strerror or error}){hint}") from None
