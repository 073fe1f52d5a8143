"""Plot every learning-rate schedule over one run: the learning-rate figure of the chapter
(Qiu Xipeng, Neural Networks and Deep Learning, ch. 7).

Each curve is built the way ``netopt-train`` builds its schedule, by composing ``conf/train.yaml``
with ``scheduler=<name>``, building ``cfg.scheduler`` for the run's steps and a fixed
``--steps-per-epoch`` (not the one the dataset and batch size would give), and multiplying its
factor by ``optimizer.lr``, without ``trainer.linear_scaling_rule``. ReduceLROnPlateau is left out:
it follows the validation metric, not t.

    python scripts/plot_schedules.py                              # writes docs/schedules.png
    python scripts/plot_schedules.py --out lr.png trainer.max_epochs=40 optimizer.lr=0.05
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from hydra import compose, initialize  # noqa: E402

from netopt import config  # noqa: E402
from netopt.components import make, preflight  # noqa: E402

PANELS = {
    "Decay": {
        "constant": ["scheduler=constant"],
        "step (milestones 10, 15)": ["scheduler=step"],
        "steplr (every 5 epochs)": ["scheduler=steplr"],
        "inverse_time": ["scheduler=inverse_time"],
        "exponential": ["scheduler=exponential"],
        "natural_exp": ["scheduler=natural_exp"],
        "polynomial (power 1)": ["scheduler=polynomial"],
        "cosine": ["scheduler=cosine"],
    },
    "Warm-up (2 epochs), then decay": {
        "constant": ["scheduler=constant", "scheduler.warmup=2"],
        "step": ["scheduler=step", "scheduler.warmup=2"],
        "exponential": ["scheduler=exponential", "scheduler.warmup=2"],
        "cosine": ["scheduler=cosine", "scheduler.warmup=2"],
    },
    "Periodic": {
        "cyclic (triangular)": ["scheduler=cyclic"],
        "cyclic (triangular2)": ["scheduler=cyclic", "scheduler.mode=triangular2"],
        "sgdr (T_0=5)": ["scheduler=sgdr"],
        "sgdr (T_0=2, T_mult=2, gamma=0.7)": [
            "scheduler=sgdr",
            "scheduler.T_0=2",
            "scheduler.T_mult=2",
            "scheduler.gamma=0.7",
        ],
        "onecycle": ["scheduler=onecycle"],
    },
}


def curve(overrides: list[str], steps_per_epoch: int) -> tuple[list[float], list[float]]:
    """(epochs, lrs) of the schedule the CLI would build with ``overrides``."""
    cfg = compose(config.PRIMARY, overrides=overrides)
    preflight(cfg)
    total = cfg.trainer.max_epochs * steps_per_epoch
    factor = make(cfg, "scheduler", total, steps_per_epoch)
    return [t / steps_per_epoch for t in range(total)], [cfg.optimizer.lr * factor(t) for t in range(total)]


def plot(out: Path, steps_per_epoch: int, common: list[str]) -> None:
    figure, axes = plt.subplots(1, len(PANELS), figsize=(6 * len(PANELS), 5.5), sharey=True)
    config.register()
    with initialize(version_base="1.3", config_path=None):
        for ax, (title, curves) in zip(axes, PANELS.items(), strict=True):
            for label, overrides in curves.items():
                ax.plot(*curve([*common, *overrides], steps_per_epoch), label=label, linewidth=1.5)
            ax.set(title=title, xlabel="epoch")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)
    axes[0].set_ylabel("learning rate")
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides applied to every curve")
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "docs" / "schedules.png")
    parser.add_argument("--steps-per-epoch", type=int, default=50)
    args = parser.parse_args(argv)
    plot(args.out, args.steps_per_epoch, args.overrides)


if __name__ == "__main__":
    main()
