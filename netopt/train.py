"""``netopt-train``: compose the config, build every component from its ``_target_``, fit, record.

Exit status of a single run: 0 completed, 2 bad input (config, data or checkpoint: one line on
stderr naming the key), 3 diverged (NaN/inf loss; metrics.json is written), 1 anything else (a bug:
traceback). Inside a multirun a diverged run is recorded and the sweep goes on.
"""

import logging
import os
import sys
from dataclasses import fields, is_dataclass
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException, MissingConfigException
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from netopt import checkpoint, schema
from netopt.console import summary_table
from netopt.data.batches import num_batches
from netopt.diagnostics import LayerStats
from netopt.errors import UserError
from netopt.loop import Trainer
from netopt.nn.dropout import apply_dropconnect
from netopt.nn.loss import cross_entropy
from netopt.record import Recorder, flat_config, write_metrics
from netopt.regularization import EarlyStopping, penalized_parameters, penalties

log = logging.getLogger(__name__)

EXIT_USER_ERROR, EXIT_DIVERGED = 2, 3


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as error:
        raise UserError(
            f"trainer.device={name}: not available here ({str(error).splitlines()[0]}); "
            "use auto, cpu, cuda or cuda:N"
        ) from None
    return device


def plain(function: Any) -> Any:
    """A Hydra ``_partial_`` as a plain ``functools.partial``.

    Hydra 1.3.8 re-checks its target policy on every call of a partial it built, about a
    millisecond each: too slow for what the loop calls every step.
    """
    return (
        partial(function.func, *function.args, **function.keywords)
        if isinstance(function, partial)
        else function
    )


def scale_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """The linear scaling rule: lr = lr_base * K / K_base in every param group."""
    for group in optimizer.param_groups:
        group["lr"] *= factor
    log.info("linear scaling rule: lr x %g (trainer.batch_size / trainer.base_batch_size)", factor)


def run(cfg: DictConfig, run_dir: Path, choices: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train and test one configuration, leaving TensorBoard events, checkpoint.pt and metrics.json
    in ``run_dir``; return the metrics."""
    schema.validate(cfg)
    t, reg = cfg.trainer, cfg.regularization
    if t.num_threads:
        torch.set_num_threads(t.num_threads)
    torch.use_deterministic_algorithms(t.deterministic, warn_only=True)
    torch.manual_seed(t.seed)
    device = pick_device(t.device)

    checkpoint_path = run_dir / "checkpoint.pt"
    state = None
    if t.resume and checkpoint_path.exists():
        state = checkpoint.load(checkpoint_path)
    elif t.resume:
        log.info("trainer.resume: no checkpoint in %s yet, starting fresh", run_dir)

    data = instantiate(cfg.dataset)
    preprocess = instantiate(cfg.preprocess).fit(data.train.x)  # fitting also shapes its buffers
    if state:
        preprocess.load_state_dict(state["preprocess"])  # the statistics the run was trained with
    for split in (data.train, data.val, data.test):
        split.x = preprocess(split.x)
    data = data.to(device)

    model = instantiate(
        cfg.model,
        in_shape=data.in_shape,
        num_classes=data.num_classes,
        norm=instantiate(cfg.norm),
        dropout=reg.dropout,
    )
    instantiate(cfg.init)(model)
    apply_dropconnect(model, reg.dropconnect)
    model.to(device)
    optimizer = instantiate(cfg.optimizer)(model.parameters())
    if t.linear_scaling_rule:
        scale_lr(optimizer, t.batch_size / t.base_batch_size)
    base_lr = optimizer.param_groups[0]["lr"]
    steps_per_epoch = num_batches(len(data.train), t.batch_size, t.limit_batches)
    lr_at = instantiate(cfg.scheduler)(
        base_lr=base_lr, total_steps=steps_per_epoch * t.max_epochs, steps_per_epoch=steps_per_epoch
    )

    recorder = Recorder(run_dir, purge_step=state["history"]["step"] if state else None)
    trainer = Trainer(
        model=model,
        optimizer=optimizer,
        lr_at=lr_at,
        base_lr=base_lr,
        clip=plain(instantiate(cfg.clip)),
        augment=instantiate(cfg.augmentation),
        data=data,
        recorder=recorder,
        checkpoint_path=checkpoint_path,
        max_epochs=t.max_epochs,
        batch_size=t.batch_size,
        eval_batch_size=t.eval_batch_size,
        seed=t.seed,
        limit_batches=t.limit_batches,
        progress=t.progress,
        loss_fn=partial(cross_entropy, label_smoothing=reg.label_smoothing),
        penalty=partial(penalties, penalized_parameters(model, reg.penalize_all), reg.l1, reg.l2),
        early_stopping=EarlyStopping(**reg.early_stopping),
        extra_state=lambda: {"preprocess": preprocess.state_dict()},
    )
    if state:
        trainer.load_state_dict(state)
        log.info(
            "resumed from %s at epoch %d, step %d",
            checkpoint_path,
            trainer.history.epoch,
            trainer.history.step,
        )
    if t.diagnostics_every:
        LayerStats(model, recorder, t.diagnostics_every).follow(optimizer, start=trainer.history.step)
    try:
        metrics = trainer.fit()
        recorder.hparams(flat_config(cfg, choices), metrics)
    finally:  # a failed job of a multirun must not leave its writer thread behind
        recorder.close()
    write_metrics(run_dir, metrics)
    return metrics


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def task(cfg: DictConfig) -> dict[str, Any]:
    """The Hydra task: one run in its own folder; returns the metrics (the sweepers' objective).

    A single run ends here on bad input or divergence, with one line and its exit status; inside a
    multirun a diverged run is just recorded, and bad input is raised for the sweeper to record. A run
    that raises leaves metrics.json with status ``failed`` and the error's first line.
    """
    hydra_cfg = HydraConfig.get()
    single = hydra_cfg.mode == RunMode.RUN
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        metrics = run(cfg, run_dir, dict(hydra_cfg.runtime.choices))
    except Exception as error:
        cause = user_error(error)
        reason = str(cause or error).strip().splitlines() or [type(error).__name__]
        write_metrics(run_dir, {"status": "failed", "error": reason[0]})
        if single and cause is not None:
            fail(f"error: {cause}", EXIT_USER_ERROR)
        raise
    if single:
        summary_table(metrics, title=str(run_dir))
    else:  # the sweep ends with a table of all its jobs
        log.info("%s: %s, val_acc %.4f", run_dir, metrics["status"], metrics["val_acc"])
    if single and metrics["status"] == "diverged":
        fail(f"diverged: the loss became NaN/inf; metrics in {run_dir / 'metrics.json'}", EXIT_DIVERGED)
    return metrics


def user_error(error: BaseException | None) -> UserError | None:
    """The :class:`UserError` behind ``error`` (Hydra wraps errors raised while instantiating)."""
    while error is not None and not isinstance(error, UserError):
        error = error.__cause__ or error.__context__
    return error


def fail(message: str, status: int) -> NoReturn:
    print(f"netopt-train: {message}", file=sys.stderr)
    raise SystemExit(status)


def one_line(error: Exception) -> str:
    """A configuration error as one line naming the key and what is allowed."""
    if isinstance(error, MissingConfigException) and error.options is not None:
        group = (error.missing_cfg_file or "").rsplit("/", 1)[0]
        option = (error.missing_cfg_file or "").rsplit("/", 1)[-1]
        return f"{group}={option}: no such option; choose one of {', '.join(sorted(error.options))}"
    cause = error if isinstance(error, OmegaConfBaseException) else error.__cause__
    if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
        message = str(getattr(cause, "msg", cause)).strip().splitlines()[0]
        if isinstance(cause, (ConfigKeyError, ConfigAttributeError)):
            message = f"unknown key; allowed: {', '.join(allowed_keys(cause))}"
        return f"{cause.full_key}: {message}"
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return " ".join(lines[:3]) or type(error).__name__


def allowed_keys(error: ConfigKeyError | ConfigAttributeError) -> list[str]:
    """The keys of the config node an unknown key was set on (its schema's fields)."""
    if is_dataclass(error.object_type):
        return [f.name for f in fields(error.object_type) if not f.name.startswith("_")]
    node = error.parent_node if error.parent_node is not None else error.child_node
    return [str(key) for key in node] if node is not None else []


def main() -> None:
    """Console entry point: Hydra's composition errors become one line and exit status 2."""
    show_traceback = bool(os.environ.get("HYDRA_FULL_ERROR"))
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let errors reach us instead of Hydra's multi-line report
    try:
        task()
    except UserError as error:  # raised by a sweeper (e.g. too many failed trials)
        fail(f"error: {error}", EXIT_USER_ERROR)
    except (HydraException, OmegaConfBaseException) as error:
        if show_traceback:
            raise
        fail(f"error: {one_line(error)}", EXIT_USER_ERROR)


if __name__ == "__main__":
    main()
