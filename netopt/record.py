"""What a run leaves in its folder: TensorBoard events (scalars and the hparams table), epochs.csv
(one row of metrics per epoch) and metrics.json (the final ones), the files written atomically.

Everything goes into the run folder itself, hparams included (``SummaryWriter.add_hparams`` would
open a second run beside it), so TensorBoard shows exactly one run per run folder.
"""

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import Tensor
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from netopt.files import write_text

#: The columns of epochs.csv.
EPOCH_COLUMNS = ["epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "wall_time_s"]
#: The final metrics shown in TensorBoard's HParams tab, by scalar tag and metrics.json key.
HPARAM_METRICS = {
    "val/acc": "val_acc",
    "val/loss": "val_loss",
    "test/acc": "test_acc",
    "test/loss": "test_loss",
}


class Recorder:
    """A TensorBoard writer for one run folder; ``purge_step`` drops events a resumed run redoes.

    Scalars are kept in memory and handed to the writer by :meth:`flush` (the loop calls it once
    per epoch): the writer's background thread, woken for every event, would otherwise contend for
    the GIL with the training step and slow small models down by half.
    """

    def __init__(self, run_dir: Path, purge_step: int | None = None) -> None:
        self.run_dir = run_dir
        self.writer = SummaryWriter(log_dir=str(run_dir), purge_step=purge_step, max_queue=1000)
        self.pending: list[tuple[Mapping[str, float], int]] = []

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        self.pending.append((values, step))

    def flush(self) -> None:
        for values, step in self.pending:
            for tag, value in values.items():
                self.writer.add_scalar(tag, value, step)
        self.pending.clear()
        self.writer.flush()

    def epoch_end(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """After an epoch: hand the scalars to TensorBoard and rewrite epochs.csv from ``rows``."""
        self.flush()
        out = io.StringIO()
        writer = csv.DictWriter(out, EPOCH_COLUMNS, extrasaction="ignore", restval="")
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
        write_text(self.run_dir / "epochs.csv", out.getvalue())

    def image(self, tag: str, image: Tensor, step: int) -> None:
        """One ``(C, H, W)`` image with values in [0, 1]."""
        self.writer.add_image(tag, image, step)

    def hparams(self, config: Mapping[str, Any], metrics: Mapping[str, Any]) -> None:
        """The HParams table entry: flattened config against the final metrics (NaN when missing)."""
        final = {tag: _number(metrics.get(key)) for tag, key in HPARAM_METRICS.items()}
        file_writer = self.writer.file_writer
        assert file_writer is not None  # open until close()
        for summary in hparams(dict(config), final):
            file_writer.add_summary(summary)

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

    def image(self, tag: str, image: Tensor, step: int) -> None:
        pass

    def hparams(self, config: Mapping[str, Any], metrics: Mapping[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


def flat_config(cfg: DictConfig, choices: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``cfg`` as ``{"optimizer.lr": 0.1, ...}`` with the chosen option of each group (``optimizer: sgd``).

    Values TensorBoard cannot show as hparams (lists, None) become strings.
    """
    flat: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        else:
            flat[prefix[:-1]] = node if isinstance(node, (bool, int, float, str)) else str(node)

    walk(OmegaConf.to_container(cfg, resolve=True), "")
    for group, option in (choices or {}).items():
        if option is not None and not group.startswith("hydra"):
            flat[group] = str(option)
    return flat


def write_metrics(run_dir: Path, metrics: Mapping[str, Any]) -> None:
    """metrics.json, atomically: strict JSON, a missing or non-finite number written as null."""
    clean = {k: _cell(v) if isinstance(v, float) else v for k, v in metrics.items()}
    write_text(run_dir / "metrics.json", json.dumps(clean, indent=2) + "\n")


def _cell(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)
