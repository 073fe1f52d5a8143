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


def straight_and_resumed(root: Path, epochs: int, *overrides: str) -> tuple[dict, dict]:
    """A run into ``root/straight``, and the same run into ``root/resumed`` interrupted (Ctrl-C) after the
    checkpoint of epoch ``epochs`` and resumed there, asserted to end exactly alike: their metrics (but
    the timings) and the models of their checkpoints. The straight run's metrics and checkpoint."""
    from unittest import mock

    from netopt.run.checkpoint import Checkpoint
    from netopt.run.runner import Interrupted

    save = Checkpoint.save

    def save_then_stop(checkpoint: Checkpoint) -> None:
        save(checkpoint)
        if torch.load(checkpoint.path, weights_only=True)["history"]["epoch"] == epochs:
            raise KeyboardInterrupt

    straight = train(root / "straight", *overrides)
    with mock.patch.object(Checkpoint, "save", save_then_stop), pytest.raises(Interrupted):
        train(root / "resumed", *overrides)
    resumed = train(root / "resumed", *overrides, "trainer.resume=true")
    timings = ("wall_time_s", "samples_per_s")
    assert {k: v for k, v in resumed.items() if k not in timings} == {
        k: v for k, v in straight.items() if k not in timings
    }
    saved, again = (
        torch.load(root / run / "checkpoint.pt", weights_only=True) for run in ("straight", "resumed")
    )
    for name, value in saved["model"].items():
        assert torch.equal(value, again["model"][name]), name
    return straight, saved


def assert_batch_norm_recomputed(model_state: dict) -> None:
    """Every batch norm's statistics in ``model_state`` recomputed in one batch (of the training split
    of a small run), as the weights to evaluate get them, not the running averages of training."""
    tracked = [v.item() for k, v in model_state.items() if k.endswith("num_batches_tracked")]
    assert tracked and set(tracked) == {1}
