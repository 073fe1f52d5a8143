"""What a run leaves in its folder: TensorBoard events (scalars and the hparams table), epochs.csv
(one row of metrics per epoch) and metrics.json (the final ones), the files written atomically.

Everything goes into the run folder itself, hparams included (``SummaryWriter.add_hparams`` would
open a second run beside it), so TensorBoard shows exactly one run per run folder.
"""

import csv
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf
from tensorboard.compat.proto.summary_pb2 import Summary
from torch import Tensor
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams
from torch.utils.tensorboard.writer import FileWriter

from netopt.files import write_text
from netopt.labels import bookkeeping

#: The first columns of epochs.csv (the train loss and accuracy running over the epoch's batches); the
#: loop's measures of the model (e.g. ``sparsity``) follow.
EPOCH_COLUMNS = [
    "epoch",
    "step",
    "train_loss_running",
    "train_acc_running",
    "val_loss",
    "val_acc",
    "val_ece",
    "lr",
    "wall_time_s",
]
#: The final metrics of the HParams table, each logged as the scalar ``~final/<name>``.
FINAL_METRICS = ("train_acc", "val_acc", "best_val_acc", "test_acc", "test_loss", "epochs", "wall_time_s")
#: The tag group of the final metrics: TensorBoard shows tag groups (the part of a tag before its first
#: ``/``) in ascii order, so ``~`` puts these single points after every curve (``train/``, ``val/``,
#: ``test/``, ``weights/``), which a run opens on.
FINAL_GROUP = "~final"


class Recorder:
    """A TensorBoard writer for one run folder; ``purge_step`` drops events a resumed run redoes.

    Scalars are kept in memory and handed to the writer by :meth:`flush` (the loop calls it once
    per epoch): the writer's background thread, woken for every event, would otherwise contend for
    the GIL with the training step, which slows small models down. Each step's scalars go out as one
    event (a summary of several values, as ``add_scalar`` would write them one by one): the thread
    frames every event with two pure-Python CRC-32C checksums, so an event per scalar would make the
    flush a sizeable part of a small model's epoch (``scripts/bench_train.py`` times the loop).
    """

    def __init__(self, run_dir: Path, purge_step: int | None = None) -> None:
        self.run_dir = run_dir
        self.writer = SummaryWriter(log_dir=str(run_dir), purge_step=purge_step, max_queue=1000)
        self.pending: list[tuple[Mapping[str, float], int]] = []

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        self.pending.append((values, step))

    @property
    def events(self) -> FileWriter:
        """The writer's event file, open until :meth:`close`."""
        file_writer = self.writer.file_writer
        assert file_writer is not None
        return file_writer

    def flush(self) -> None:
        for values, step in self.pending:
            summary = Summary(value=[Summary.Value(tag=k, simple_value=float(v)) for k, v in values.items()])
            self.events.add_summary(summary, step)
        self.pending.clear()
        self.writer.flush()

    def epoch_end(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """After an epoch: hand the scalars to TensorBoard and rewrite epochs.csv from ``rows``."""
        self.flush()
        out = io.StringIO()
        extra = [key for key in dict.fromkeys(k for row in rows for k in row) if key not in EPOCH_COLUMNS]
        writer = csv.DictWriter(out, EPOCH_COLUMNS + extra, restval="")
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
        write_text(self.run_dir / "epochs.csv", out.getvalue())

    def histogram(self, tag: str, edges: Sequence[float], counts: Sequence[float], step: int) -> None:
        """A histogram of ``counts`` in the bins between consecutive ``edges`` (TensorBoard's
        histograms; its sum and sum of squares are those of the bin centers)."""
        centers = [(a + b) / 2 for a, b in zip(edges, edges[1:], strict=False)]
        self.writer.add_histogram_raw(
            tag,
            min=edges[0],
            max=edges[-1],
            num=sum(counts),
            sum=sum(c * n for c, n in zip(centers, counts, strict=True)),
            sum_squares=sum(c * c * n for c, n in zip(centers, counts, strict=True)),
            bucket_limits=list(edges[1:]),
            bucket_counts=list(counts),
            global_step=step,
        )

    def figure(self, tag: str, figure: Figure, step: int) -> None:
        """A matplotlib figure, as an image (closed afterwards)."""
        self.writer.add_figure(tag, figure, step, close=True)

    def hparams(self, values: Mapping[str, Any], metrics: Mapping[str, Any], step: int) -> None:
        """The run's row of TensorBoard's HParams table: ``values`` (:func:`compared`) and the final
        metrics (scalars ``~final/<name>``, :data:`FINAL_GROUP`, NaN when missing).

        Only the run's own values are written, no experiment summary: TensorBoard then builds the
        table's columns from every run under its logdir (the union of a sweep, of all sweeps), the
        hyperparameters that differ first.
        """
        final = {f"{FINAL_GROUP}/{key}": _number(metrics.get(key)) for key in FINAL_METRICS}
        self.scalars(final, step)
        _, start, end = hparams(dict(values), final)
        self.events.add_summary(start)
        self.events.add_summary(end)

    def close(self) -> None:
        self.flush()
        self.writer.close()


class SilentRecorder(Recorder):
    """A recorder that records nothing: the other processes of a data-parallel run, where rank 0
    writes the run's records."""

    def __init__(self, run_dir: Path, purge_step: int | None = None) -> None:
        self.run_dir = run_dir

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        pass

    def flush(self) -> None:
        pass

    def epoch_end(self, rows: Sequence[Mapping[str, Any]]) -> None:
        pass

    def histogram(self, tag: str, edges: Sequence[float], counts: Sequence[float], step: int) -> None:
        pass

    def figure(self, tag: str, figure: Figure, step: int) -> None:
        pass

    def hparams(self, values: Mapping[str, Any], metrics: Mapping[str, Any], step: int) -> None:
        pass

    def close(self) -> None:
        pass


def augmentation_figure(
    x: Tensor, augment: Callable[[Tensor, torch.Generator], Tensor], generator: torch.Generator, n: int = 8
) -> Figure:
    """``n`` training images (row "original") over their augmented copies (row "augmented")."""
    originals = x[:n]
    rows = {"original": originals, "augmented": augment(originals, generator)}
    figure = Figure(figsize=(1.2 * len(originals), 2.6), layout="constrained")
    axes = figure.subplots(2, len(originals), squeeze=False)
    for row, (name, images) in zip(axes, rows.items(), strict=True):
        for ax, image in zip(row, images.detach().float().cpu(), strict=True):
            low, high = image.min(), image.max()
            shown = ((image - low) / (high - low).clamp_min(1e-12)).permute(1, 2, 0).numpy()
            ax.imshow(
                shown.squeeze(-1) if shown.shape[-1] == 1 else shown, cmap="gray", interpolation="nearest"
            )
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(name, fontsize=11)
    return figure


def compared(cfg: DictConfig, choices: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """What a run is compared by: the option chosen in each config group, the learning rate, and every
    field its overrides set (as composed), without bookkeeping keys or ``_target_``/``_partial_``.
    Values TensorBoard cannot show as hparams (lists, None) become strings."""
    values: dict[str, Any] = {g: str(o) for g, o in choices.items() if o is not None and not bookkeeping(g)}
    for key in ("optimizer.lr", "optimizer.base.lr"):  # each optimizer's preset has its own
        if OmegaConf.select(cfg, key) is not None:
            values[key] = OmegaConf.select(cfg, key)
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key in choices or bookkeeping(key) or "=" not in override:
            continue
        value = OmegaConf.select(cfg, key, default=None)
        values[key] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return values


def write_metrics(run_dir: Path, metrics: Mapping[str, Any]) -> None:
    """metrics.json, atomically: strict JSON, a missing or non-finite number written as null."""
    clean = {k: _cell(v) if isinstance(v, float) else v for k, v in metrics.items()}
    write_text(run_dir / "metrics.json", json.dumps(clean, indent=2) + "\n")


def _cell(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)
