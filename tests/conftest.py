"""Fixtures: the CLI called in-process, and Hydra's logging forgotten after each test."""

import logging
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")  # tiny tensors: a second thread only spins (subprocesses too)

import pytest
import torch

from netopt.cli.train import main
from tests.helpers import FAST

torch.set_num_threads(1)


@pytest.fixture
def cli(monkeypatch, capsys, tmp_path):
    """Call ``netopt-train ARGS`` in-process from ``tmp_path``; returns (exit status, stderr)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")  # recorded, so what main() sets there is undone afterwards

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


@pytest.fixture
def float64():
    """torch's default dtype float64 for the test (the parity tests' precision), then back."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)
