"""Shared test helpers: compose the real configs in-process, run them, read what a run leaves."""

import json
from pathlib import Path

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
