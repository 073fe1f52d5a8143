"""Shared helpers: compose the real configs in-process, run them, call the CLI in-process."""

import json
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # tiny tensors: a second thread only spins (subprocesses too)

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

import netopt.schema  # noqa: F401  (registers the schemas)
from netopt.train import main, run

FAST = ["trainer.progress=false"]
torch.set_num_threads(1)


def compose_config(*overrides: str) -> DictConfig:
    """The composed ``train`` config with ``overrides``, exactly as the CLI would build it."""
    with initialize_config_module("netopt.conf", version_base="1.3"):
        return compose("train", overrides=[*FAST, *overrides])


def train(run_dir: Path, *overrides: str) -> dict:
    """One run in-process into ``run_dir``; its metrics."""
    run_dir.mkdir(parents=True, exist_ok=True)
    return run(compose_config(*overrides), run_dir)


def read_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.fixture
def cli(monkeypatch, capsys, tmp_path):
    """Call ``netopt-train ARGS`` in-process from ``tmp_path``; returns (exit status, stderr)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)

    def call(*args: str) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["netopt-train", *args, *FAST])
        try:
            main()
            status = 0
        except SystemExit as stop:
            status = stop.code
        return status, capsys.readouterr().err

    return call


@pytest.fixture(autouse=True)
def _forget_hydra_logging():
    """An in-process Hydra run leaves root log handlers bound to that test's captured streams."""
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if not type(h).__module__.startswith("_pytest")]:
        root.removeHandler(handler)
        handler.close()
