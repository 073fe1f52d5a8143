"""The terminal view of a run: a rich progress bar while training, a summary table at the end."""

import math
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console(stderr=True)
#: Seconds between redraws of the bar; the loop updates it as often. Drawing runs in a thread of its
#: own that takes the GIL from training, so faster redraws slow small models down.
REFRESH_S = 0.25


def progress_bar(enabled: bool) -> Progress:
    """Epoch, steps, loss, lr and samples/s; ``update(task, loss=..., lr=..., speed=...)`` fills them."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "loss {task.fields[loss]:.4f}  lr {task.fields[lr]:.3g}  {task.fields[speed]:,.0f} samples/s"
        ),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled,
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
    """Print the final metrics as a two-column table."""
    table = Table(title=title, show_header=False)
    for key, value in metrics.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)
