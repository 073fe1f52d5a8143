"""Shared test helpers: compose the real configs in-process, run them, read what a run leaves."""

import json
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from netopt import compose, config
from netopt.run.runner import run

FAST = ["trainer.progress=false"]
config.register()  # config.OPTIONS, which the tests read


def compose_config(*overrides: str, hydra: bool = False) -> DictConfig:
    """The composed ``train`` config with ``overrides``, exactly as the CLI would build it."""
    return compose(*FAST, *overrides, hydra=hydra)


def train(run_dir: Path, *overrides: str) -> dict:
    """One run in-process into ``run_dir``; its metrics."""
    run_dir.mkdir(parents=True, exist_ok=True)
    return run(compose_config(*overrides), run_dir)


def read_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def interrupted_and_resumed(run_dir: Path, epochs: int, *overrides: str) -> dict:
    """A run in-process into ``run_dir`` interrupted (Ctrl-C) after the checkpoint of epoch ``epochs``,
    then resumed there; the resumed run's metrics."""
    from unittest import mock

    from netopt.run.checkpoint import Checkpoint
    from netopt.run.runner import Interrupted

    save = Checkpoint.save

    def save_then_stop(checkpoint: Checkpoint) -> None:
        save(checkpoint)
        if torch.load(checkpoint.path, weights_only=True)["history"]["epoch"] == epochs:
            raise KeyboardInterrupt

    with mock.patch.object(Checkpoint, "save", save_then_stop), pytest.raises(Interrupted):
        train(run_dir, *overrides)
    return train(run_dir, *overrides, "trainer.resume=true")


def without_timings(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in ("wall_time_s", "samples_per_s")}
