"""The library's front door: compose a config, build its components, fit it.

    import netopt
    cfg = netopt.compose("optimizer=adam", "trainer.max_epochs=3")
    parts = netopt.build(cfg)            # model, optimizer, schedule, ... as the runner builds them
    metrics = netopt.fit(cfg, "outputs/runs/adam")

From any Python process or notebook, with no Hydra set-up: the configs are typed and checked exactly
as ``netopt-train`` checks them, and a run fitted here leaves the same folder a command-line run does.
"""

from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from netopt.composition import compose

__all__ = ["build", "compose", "fit"]

#: Where :func:`fit` puts a run given no folder, as ``netopt-train`` does.
RUNS = Path("outputs/runs")


def build(cfg: DictConfig) -> Any:
    """The components of ``cfg`` (:class:`netopt.components.Components`): its dataset is read for
    the input's shape and the run's length in steps, then every group is built as the runner builds it."""
    from netopt.components import assemble, preflight
    from netopt.data.batches import num_batches
    from netopt.errors import config_key

    settings, dataset, _ = preflight(cfg)
    with config_key("dataset"):
        data = dataset.load()
    steps = num_batches(len(data.train), settings.batch_size, settings.limit_batches)
    return assemble(cfg, settings, data.in_shape, data.num_classes, steps, dataset.val_fraction > 0)


def fit(cfg: DictConfig, run_dir: str | Path | None = None) -> dict[str, Any]:
    """Train and test ``cfg`` in ``run_dir`` (default: a new folder under outputs/runs/ named by the
    time, as the command line names it); the final metrics, as in the folder's metrics.json."""
    from netopt.run.runner import run

    folder = Path(run_dir) if run_dir is not None else RUNS / datetime.now().strftime("%Y-%m-%d_%H-%M-%S_%f")
    return run(cfg, folder)
