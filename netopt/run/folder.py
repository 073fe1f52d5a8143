"""The folder of one run: one process at a time, never overwritten, resumed only into the run it holds.

A run claims its folder with an exclusive lock (``fcntl.flock`` on ``.lock``, which names the holder's
pid), so a second process started on the same folder is refused at once. A folder that already holds
a run is never trained into afresh: ``trainer.resume=true`` continues it from its checkpoint, and only
when every setting that shapes the trajectory is the one the checkpoint was written with
(:func:`netopt.settings.resumable_keys` are the few that may change). A folder a run gave up on
before writing anything is removed again, so a mistake in the config never leaves a folder that
looks like a run.
"""

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import IO, Any, TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from netopt.config import container
from netopt.distributed import DataParallel, World
from netopt.errors import UserError
from netopt.files import read_checkpoint, write_error
from netopt.hpo.fork import forked_keys
from netopt.labels import flatten
from netopt.settings import resumable_keys

#: What a run leaves in its folder (TensorBoard's event files besides).
RECORDS = ("checkpoint.pt", "metrics.json", "epochs.csv", ".hydra")
LOCK = ".lock"
T = TypeVar("T")


def differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """The keys that change the trajectory and differ, as ``key: saved -> current``."""
    old, new = flatten(saved), flatten(current)
    keys = sorted((old.keys() | new.keys()) - set(resumable_keys()))
    missing = "(absent)"
    return [f"{k}: {old.get(k, missing)} -> {new.get(k, missing)}" for k in keys if old.get(k) != new.get(k)]


def discard_empty(path: Path) -> None:
    """Remove the folder ``path`` if nothing is in it (a run refused before it claimed its folder)."""
    with contextlib.suppress(OSError):
        path.rmdir()


def epochs(config: Mapping[str, Any]) -> Any:
    """``trainer.max_epochs`` of a composed config."""
    return config.get("trainer", {}).get("max_epochs")


class RunFolder:
    """The folder ``path`` of one run; :meth:`claim` it before writing anything into it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fresh = not path.exists() or not any(path.iterdir())  # nothing in it before this run
        self.lock: IO[str] | None = None

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint.pt"

    def holds_run(self) -> bool:
        """Whether a run wrote its records here."""
        return any((self.path / name).exists() for name in RECORDS) or any(self.path.glob("events.out.*"))

    def claim(self) -> None:
        """Take the folder's lock, or refuse it (one line naming the process that holds it). The lock
        file names its holder only once :meth:`mark` says the run goes ahead."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            lock = open(self.path / LOCK, "a+")  # noqa: SIM115 (held until release)
        except OSError as error:
            raise UserError(f"hydra.run.dir={self.path}: cannot write there ({error.strerror})") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            pid = lock.read().strip()
            holder = f"process {pid}" if pid else "another process"
            lock.close()
            raise UserError(
                f"hydra.run.dir={self.path}: in use by {holder}; wait for it or choose another folder"
            ) from None
        self.lock = lock

    def mark(self) -> None:
        """Name this process in the lock file: the run goes ahead here."""
        assert self.lock is not None
        self.lock.seek(0)
        self.lock.truncate()
        try:
            self.lock.write(f"{os.getpid()}\n")
            self.lock.flush()
        except OSError as error:
            raise write_error(self.path / LOCK, error) from None

    def release(self, abandon: bool = False) -> None:
        """Drop the lock; when abandoning a folder this run created, remove it (if nothing else is in it)."""
        if self.lock is not None:
            with contextlib.suppress(OSError):  # the pid it names may not reach a full disk
                self.lock.close()
            self.lock = None
        if abandon and self.fresh:
            (self.path / LOCK).unlink(missing_ok=True)
            discard_empty(self.path)  # something else is in it: leave it

    def completed_metrics(self, config: Mapping[str, Any]) -> dict[str, Any] | None:
        """The metrics of the completed run this folder holds with ``config``, its length included, if
        it does (a sweep run again into its folder skips such jobs, also when their checkpoints were
        deleted)."""
        saved, metrics = self.saved_config(), self.metrics()
        if saved is None or metrics.get("status") != "completed":
            return None
        same = not differences(saved, config) and epochs(saved) == epochs(config)
        return metrics if same else None

    def saved_config(self) -> dict[str, Any] | None:
        """The config the run here was trained with: its checkpoint's, else ``.hydra/config.yaml``."""
        if self.checkpoint.exists():
            return dict(read_checkpoint(self.checkpoint).get("config", {}))
        written = self.path / ".hydra" / "config.yaml"
        try:
            return container(OmegaConf.load(written)) if written.exists() else None
        except (OSError, OmegaConfBaseException):
            return None

    def metrics(self) -> dict[str, Any]:
        """metrics.json of the run here ({} when there is none or it cannot be read)."""
        try:
            metrics = json.loads((self.path / "metrics.json").read_text())
        except (OSError, ValueError):
            return {}
        return metrics if isinstance(metrics, dict) else {}

    def interrupted_before_checkpoint(self) -> bool:
        """Whether the run here was stopped by Ctrl-C before it wrote its first checkpoint (resuming it
        starts it again)."""
        return self.metrics().get("status") == "interrupted" and not self.checkpoint.exists()

    def resumable(self, config: Mapping[str, Any], resume: bool | str) -> dict[str, Any] | None:
        """The checkpoint to continue from (None: start fresh), or refuse: a fresh run into a folder
        that holds one, ``resume=true`` with no checkpoint (unless the run was interrupted before its
        first: it starts again), a checkpoint of other settings (but those a fork recorded in the
        folder's fork.json: :mod:`netopt.hpo.fork`), or fewer epochs than it has done."""
        if not resume:
            if self.holds_run():
                raise UserError(
                    f"hydra.run.dir={self.path}: holds a run already; continue it with trainer.resume=true "
                    "or choose another folder"
                )
            return None
        if not self.checkpoint.exists():
            if (resume == "auto" and not self.holds_run()) or self.interrupted_before_checkpoint():
                return None  # start (again) from the beginning
            raise UserError(
                f"trainer.resume={str(resume).lower()}: no checkpoint in {self.path} to continue from"
                + ("" if resume == "auto" else "; trainer.resume=auto starts fresh when there is none")
            )
        saved = read_checkpoint(self.checkpoint)
        forked = forked_keys(self.path)  # population-based training's fork may change these
        changed = [c for c in differences(saved.get("config", {}), config) if c.split(":")[0] not in forked]
        if changed:
            raise UserError(
                f"trainer.resume: the checkpoint in {self.path} was trained with other settings ("
                + "; ".join(changed)
                + f"); only {', '.join(resumable_keys())} may change"
            )
        done = saved.get("history", {}).get("epoch", 0)
        wanted = epochs(config)
        if isinstance(wanted, int) and wanted < done:
            raise UserError(
                f"trainer.max_epochs={wanted}: the run in {self.path} has trained {done} epochs already; "
                f"resume with at least trainer.max_epochs={done} (more extends it)"
            )
        self.require_writable()
        return saved

    def require_writable(self) -> None:
        """Refuse, before anything in it is rewritten, a folder (or its ``.hydra``) where no file can be
        written: a resume must not leave a new config beside the old run's records."""
        for folder in (self.path, self.path / ".hydra"):
            if not folder.is_dir():
                continue
            probe = folder / f".write-test-{os.getpid()}"
            try:
                probe.touch()
                probe.unlink()
            except OSError as error:
                raise UserError(
                    f"hydra.run.dir={self.path}: cannot write into {folder} ({error.strerror})"
                ) from None


def run_folder(path: Path, world: World) -> RunFolder:
    """The run folder ``path`` as the processes of ``world`` share it: claimed and checked by the main
    process, whose decisions the others learn (:mod:`netopt.distributed`)."""
    if not isinstance(world, DataParallel):
        return RunFolder(path)
    main_path = world.broadcast(path)
    if world.is_main:
        return _Leader(path, world)
    if path != main_path:  # Hydra named this process's folder by its own clock: only rank 0's is used
        with contextlib.suppress(OSError):
            path.rmdir()
    return _Follower(main_path, world)


class _Leader(RunFolder):
    """The run folder on the main process: it claims and checks it, and tells the others each
    decision the run asks for (one the run asks for inside another, as ``resumable`` asks
    ``holds_run``, is part of that one and not told on its own)."""

    def __init__(self, path: Path, world: DataParallel) -> None:
        super().__init__(path)
        self.world, self.deciding = world, False

    def _tell(self, decide: Callable[[], T], message: Callable[[T], Any] = lambda v: v) -> T:
        if self.deciding:
            return decide()
        self.deciding = True
        try:
            return self.world.tell(decide, message)
        finally:
            self.deciding = False

    def claim(self) -> None:
        self._tell(super().claim)

    def holds_run(self) -> bool:
        return self._tell(super().holds_run)

    def completed_metrics(self, config: Mapping[str, Any]) -> dict[str, Any] | None:
        return self._tell(partial(super().completed_metrics, config))

    def resumable(self, config: Mapping[str, Any], resume: bool | str) -> dict[str, Any] | None:
        return self._tell(partial(super().resumable, config, resume), lambda saved: saved is not None)


class _Follower(RunFolder):
    """The run folder on the other processes: they learn the main process's decisions (and read the
    checkpoint it resumes from themselves); they write nothing."""

    def __init__(self, path: Path, world: DataParallel) -> None:
        super().__init__(path)
        self.world, self.fresh = world, False

    def claim(self) -> None:
        self.world.hear()

    def holds_run(self) -> bool:
        return self.world.hear()

    def completed_metrics(self, config: Mapping[str, Any]) -> dict[str, Any] | None:
        return self.world.hear()

    def resumable(self, config: Mapping[str, Any], resume: bool | str) -> dict[str, Any] | None:
        return read_checkpoint(self.checkpoint) if self.world.hear() else None

    def mark(self) -> None:
        pass

    def release(self, abandon: bool = False) -> None:
        pass
