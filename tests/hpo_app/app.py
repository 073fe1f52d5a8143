"""A tiny Hydra task for the sweeper tests: no torch, about a millisecond per job.

val_acc after e epochs is -branin(x1, x2) - 10 / e (+1 when kind is b), so more epochs always
help and configurations keep their order. Epochs resume from ``state.json`` in the run folder;
every launch appends the epochs it trained to ``launches.txt``. An epoch sleeps
``seconds_per_epoch * (1 + x2 / 15)`` seconds, so trials differ in length as real ones do.
"""

import json
import math
import os
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


def branin(x1: float, x2: float) -> float:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


@hydra.main(version_base="1.3", config_path=".", config_name="config")
def main(cfg: DictConfig) -> dict:
    began = time.time()
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if run_dir.name.split("_")[0] == os.environ.get("HPO_APP_STOP_IN"):  # as Ctrl-C does, in this trial
        raise KeyboardInterrupt
    if cfg.x1 > cfg.fail_above:
        raise RuntimeError(f"x1={cfg.x1} is too large\nsecond line")
    state = run_dir / "state.json"
    start = json.loads(state.read_text())["epochs"] if cfg.trainer.resume and state.exists() else 0
    epochs = max(start, cfg.trainer.max_epochs)
    time.sleep(cfg.seconds_per_epoch * (1 + cfg.x2 / 15) * (epochs - start))
    state.write_text(json.dumps({"epochs": epochs}))
    with (run_dir / "launches.txt").open("a") as f:
        f.write(f"{epochs - start}\n")
    value = -branin(cfg.x1, cfg.x2) - 10 / epochs + (cfg.kind == "b")
    if cfg.x1 > cfg.nan_above:
        value = math.nan
    return {
        "status": "completed",
        "val_acc": value,
        "test_acc": 1e9,
        "epochs": epochs,
        "wall_time_s": time.time() - began,
        "finished_at": time.time(),
        "omp_threads": os.environ.get("OMP_NUM_THREADS", ""),
    }


if __name__ == "__main__":
    main()
