"""The terminal view of a run: log lines above one progress bar with an ETA while it trains, a
summary table at the end."""

import logging
import math
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

#: The run's terminal: stdout, with log lines above the progress bar; stderr keeps the one line of an error.
console = Console()
#: Seconds between redraws of the bar; the loop updates it as often. Drawing runs in a thread of its
#: own that takes the GIL from training, so faster redraws slow small models down.
REFRESH_S = 0.25


class LogHandler(RichHandler):
    """Log lines on the run's console, printed above the progress bar while it is drawn (the
    ``console`` handler of ``hydra.job_logging``); plain unwrapped lines when it is not a terminal
    (a pipe, a log file)."""

    def __init__(self) -> None:
        super().__init__(console=console, show_path=False, log_time_format="[%X]", markup=False)
        self.plain = logging.Formatter("[%(asctime)s][%(levelname)s] %(message)s", "%H:%M:%S")

    def emit(self, record: logging.LogRecord) -> None:
        if self.console.is_terminal:
            super().emit(record)
        else:
            self.console.file.write(self.plain.format(record) + "\n")


def progress_bar(enabled: bool) -> Progress:
    """One bar for the whole run: epoch, steps, the running loss (the mean over the epoch's batches so
    far), lr, samples/s, time spent and the time left; ``update(task, loss=..., lr=..., speed=...)``
    fills the fields (text, so they can read ``-`` before the first update). Drawn only on a terminal."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("running loss {task.fields[loss]}  lr {task.fields[lr]}  {task.fields[speed]} samples/s"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        disable=not (enabled and console.is_terminal),  # a pipe or a log file would get a blank line
        transient=True,
        refresh_per_second=1 / REFRESH_S,
    )


def stdout_console() -> Console:
    """A console on stdout, 80 columns wide when stdout is not a terminal (a pipe, a log file): rich
    would otherwise take the width of whatever terminal stderr or stdin is attached to."""
    console = Console()
    return console if console.is_terminal else Console(width=80)


def duration(seconds: float) -> str:
    """``12.3 s``, ``4.5 min`` or ``1.2 h``; ``-`` for NaN."""
    if math.isnan(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def summary_table(metrics: Mapping[str, Any], title: str) -> None:
    """Print ``title`` on a line of its own, then the final metrics that have a value as a table:
    times with their unit, throughput as a whole number."""
    table = Table(show_header=False)
    for key, value in metrics.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if key.endswith("per_s"):
            shown = f"{value:,.0f}"
        elif key.endswith("_s") and isinstance(value, float):
            shown = duration(value)
        else:
            shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        table.add_row(key.removesuffix("_s") if key.endswith("time_s") else key, shown)
    console.print(title, highlight=False, soft_wrap=True)
    console.print(table)
