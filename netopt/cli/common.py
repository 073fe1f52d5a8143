"""What the commands share: an argument parser whose mistakes are one line (exit status 2) and whose
``--help`` shows every option's default, the one-line failure, a progress bar, and the closing table.
Nothing here imports torch."""

import argparse
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

EXIT_USER_ERROR = 2
T = TypeVar("T")


def fail(prog: str, message: str, status: int = EXIT_USER_ERROR) -> NoReturn:
    """End the command with ``<prog>: error: <message>`` (its first line) on stderr."""
    first = (str(message).strip().splitlines() or ["unknown error"])[0]
    print(f"{prog}: error: {first}", file=sys.stderr)
    raise SystemExit(status)


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The description as written, each option followed by its default."""


class Parser(argparse.ArgumentParser):
    """``argparse`` with the description kept as written, defaults in ``--help``, and a mistake on the
    command line as one line (no usage block) and exit status 2."""

    def __init__(self, prog: str, description: str | None) -> None:
        super().__init__(prog=prog, description=description, formatter_class=_Formatter)

    def error(self, message: str) -> NoReturn:
        fail(self.prog, f"{message} (see {self.prog} --help)")


def print_table(
    title: str, headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool]
) -> None:
    """``title`` on a line of its own, then the rows under their headers (numbers right-aligned)."""
    from rich.console import Console
    from rich.table import Table

    from netopt.console import console

    table = Table()
    for header, right in zip(headers, numeric, strict=True):
        table.add_column(header, justify="right" if right else "left", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console.print(title, highlight=False, soft_wrap=True)
    (console if console.is_terminal else Console(width=1000)).print(table)  # a pipe: no column cut


@contextmanager
def progress(unit: str) -> Iterator[Callable[[str, int, int], None]]:
    """A callback ``(stage, done, total)`` that draws a bar per stage with its ETA on a terminal, and
    prints a line as each stage ends, ``<stage>: <total> <unit> in <seconds> s`` (on a terminal or
    not)."""
    from rich import progress as bars

    from netopt.console import console

    columns = (
        bars.TextColumn("{task.description}"),
        bars.BarColumn(),
        bars.MofNCompleteColumn(),
        bars.TimeElapsedColumn(),
        bars.TextColumn("eta"),
        bars.TimeRemainingColumn(),
    )
    tasks: dict[str, tuple[Any, float]] = {}
    with bars.Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total), time.perf_counter()
            task, started = tasks[stage]
            bar.update(task, completed=done)
            if done == total:
                bar.console.print(
                    f"  {stage}: {total} {unit} in {time.perf_counter() - started:.1f} s", highlight=False
                )

        yield advance


def guarded(prog: str, arguments: Sequence[str], body: Callable[[], T], interrupted: str) -> T:
    """``body()``; a mistake in the config or the input ends the command in one line (exit status 2),
    Ctrl-C in ``interrupted`` (exit status 130)."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from netopt.composition import error_line
    from netopt.errors import UserError, user_error

    try:
        return body()
    except (UserError, HydraException, OmegaConfBaseException) as error:
        cause = user_error(error)
        fail(prog, str(cause) if cause else error_line(error, arguments))
    except KeyboardInterrupt:
        fail(prog, interrupted, 130)
