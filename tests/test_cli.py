"""The real command line, in subprocesses: from any directory, and after a non-editable install."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NETOPT_TRAIN = Path(sys.executable).with_name("netopt-train")


def test_console_script_runs_from_any_directory(tmp_path):
    done = subprocess.run([NETOPT_TRAIN, "debug=fast"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    (metrics,) = tmp_path.glob("outputs/runs/*/metrics.json")
    assert json.loads(metrics.read_text())["status"] == "completed"
    assert (metrics.parent / ".hydra" / "config.yaml").exists()


def test_bad_override_in_a_real_process_is_one_line(tmp_path):
    done = subprocess.run([NETOPT_TRAIN, "optimizer.lr=-1"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "netopt-train: error: optimizer.lr=-1.0: must be finite and >= 0"
    ]


@pytest.mark.slow
def test_non_editable_install_ships_the_configs(tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", site, ROOT],
        check=True,
        capture_output=True,
    )
    assert (site / "netopt" / "conf" / "train.yaml").is_file()
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import netopt; print(netopt.__file__)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(site))
    done = subprocess.run(
        [sys.executable, "-m", "netopt.cli.train", "debug=fast", "hydra.run.dir=run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["status"] == "completed"
