"""``netopt-train``: compose the config, build every component from its ``_target_``, fit, record.

Exit status of a single run: 0 completed, 2 bad input (config, data, checkpoint or run folder: one
line on stderr naming the key), 3 diverged (NaN/inf loss; metrics.json is written), 130 interrupted
(Ctrl-C; metrics.json says so, the last epoch's checkpoint resumes), 1 anything else (a bug:
traceback). Inside a multirun a diverged run is recorded and the sweep goes on.
"""

import contextlib
import logging
import os
import sys
from dataclasses import dataclass, fields, is_dataclass
from functools import partial
from pathlib import Path
from typing import Any, NoReturn, cast

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException, MissingConfigException
from hydra.types import RunMode
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from netopt import config
from netopt.checkpoint import Checkpoint, Snapshot
from netopt.compiling import CompiledModule
from netopt.console import summary_table
from netopt.data import Data
from netopt.data.augment import Augment as Augmentation
from netopt.data.batches import num_batches
from netopt.data.datasets import Dataset
from netopt.data.preprocess import Preprocess
from netopt.diagnostics import LayerStats
from netopt.distributed import World, is_main_process, join
from netopt.errors import UserError, config_key, user_error
from netopt.files import write_text
from netopt.landscape.probe import SharpnessProbe, fixed_batches
from netopt.loop import Augment, Clip, History, RandomState, Schedule, Trainer
from netopt.mc_dropout import MCDropoutTest
from netopt.models.rnn import RNN
from netopt.optim import compile_update, with_transforms
from netopt.optim.sam import SAM
from netopt.precision import LossScaler, autocast
from netopt.record import Recorder, SilentRecorder, augmentation_figure, compared, write_metrics
from netopt.regularization import Regularization
from netopt.rnn_probe import NetInputProbe
from netopt.settings import TrainerSettings
from netopt.watchers import Watcher

log = logging.getLogger(__name__)

EXIT_USER_ERROR, EXIT_DIVERGED, EXIT_INTERRUPTED = 2, 3, 130
#: Steps per epoch assumed by the dry build, before the data is read: large, so that no duration given
#: in epochs rounds to zero steps there (the real build checks them against the real length).
NOMINAL_STEPS_PER_EPOCH = 10_000
HELP = """netopt-train: train a model with the chapter's optimization and regularization methods.
Usage: netopt-train [GROUP=OPTION ...] [GROUP.FIELD=VALUE ...]   (-m: sweep over comma-separated values)"""
FOOTER = """Run folders go to outputs/; compare them with `tensorboard --logdir outputs`.
Hydra's own options: netopt-train --hydra-help"""
_NOISE_MOVED = "gradient noise is a group of its own: grad_noise=gaussian grad_noise."
_COMPILE_MOVED = "compiling the update is a trainer option: trainer.compile_optimizer=true"
#: Old spellings that moved, and where to (the first that matches is named).
MOVED = {
    "regularization=early_stopping": "early stopping is a group of its own: early_stopping=val_loss",
    "optimizer/base": "SAM's base is chosen from the optimizer group: optimizer@optimizer.base=<option>",
    "optimizer.grad_noise_decay": _NOISE_MOVED + "gamma=<gamma>",
    "optimizer.base.grad_noise_decay": _NOISE_MOVED + "gamma=<gamma>",
    "optimizer.grad_noise": _NOISE_MOVED + "eta=<eta>",
    "optimizer.base.grad_noise": _NOISE_MOVED + "eta=<eta>",
    "optimizer.compile": _COMPILE_MOVED,
    "optimizer.base.compile": _COMPILE_MOVED,
}


def pick_device(name: str) -> torch.device:
    """``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, if this machine has it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    allowed = "auto, cpu, cuda or cuda:N"
    try:
        device = torch.device(name)
        if device.type not in ("cpu", "cuda", "mps"):
            raise RuntimeError(f"{device.type} is not a device to train on")
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UserError(f"trainer.device={name}: not available here ({reason}); use {allowed}") from None
    return device


def channels_last(setting: bool | str, model: torch.nn.Module, device: torch.device) -> bool:
    """Whether ``trainer.channels_last`` converts ``model`` and its input batches to the NHWC memory
    format: for a model with convolutions, on CUDA (``auto``) or on any device (``true``)."""
    convolutional = any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    return convolutional and (setting is True or (setting == "auto" and device.type == "cuda"))


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


def make(cfg: DictConfig, group: str, *args: Any, **kwargs: Any) -> Any:
    """Build the component of config group ``group``: a partial is called with the runner's arguments.
    A value the component refuses is named by its full key (``optimizer.lr``)."""
    with config_key(group):
        component = instantiate(cfg[group])
        return component(*args, **kwargs) if args or kwargs else component


def make_optimizer(cfg: DictConfig, params: Any) -> torch.optim.Optimizer:
    """The optimizer of group ``optimizer`` on ``params``, stepping on the gradients as the transform
    of group ``grad_noise`` leaves them (:func:`netopt.optim.with_transforms`)."""
    return with_transforms(make(cfg, "optimizer", params), grad_noise=make(cfg, "grad_noise"))


def scale_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """The linear scaling rule: lr = lr_base * K / K_base in every param group."""
    for group in optimizer.param_groups:
        group["lr"] *= factor
    log.info("linear scaling rule: lr x %g (trainer.batch_size / trainer.base_batch_size)", factor)


@dataclass
class Components:
    """Everything a run trains with, built from the config."""

    regularization: Regularization
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    clip: Clip
    augment: Augment
    watchers: list[Watcher]
    preprocess: Preprocess
    scaler: LossScaler


def build(
    cfg: DictConfig,
    settings: TrainerSettings,
    in_shape: tuple[int, ...],
    num_classes: int,
    steps_per_epoch: int,
    validation: bool,
) -> Components:
    """Build every component for a run of ``steps_per_epoch`` steps an epoch on inputs of ``in_shape``.

    Called twice: first before any data is read (a dry build, in which every component checks its
    own values), then for the run itself.
    """
    regularization = make(cfg, "regularization")
    with config_key("regularization"):
        taken = regularization.model_arguments(get_object(cfg.model._target_))
    model = make(cfg, "model", in_shape, num_classes, make(cfg, "norm"), **taken)
    with config_key("init"):
        instantiate(cfg.init)(model, **model.init_arguments())
    regularization.attach(model)
    optimizer = make_optimizer(cfg, model.parameters())
    if settings.compile_optimizer:
        with config_key("trainer"):
            compile_update(optimizer)
    if settings.precision == "fp16" and isinstance(optimizer, SAM):
        raise UserError(
            "trainer.precision=fp16: not with optimizer=sam (a step whose gradients overflow cannot be "
            "skipped between its two passes); use trainer.precision=bf16"
        )
    if settings.linear_scaling_rule:
        scale_lr(optimizer, settings.batch_size / settings.base_batch_size)
    epochs = settings.schedule_epochs or settings.max_epochs
    schedule = make(cfg, "scheduler", steps_per_epoch * epochs, steps_per_epoch)
    early_stopping = make(cfg, "early_stopping", model)
    clip = plain(make(cfg, "clip"))
    with config_key("clip"):
        clip(model.parameters())  # checks its values (no gradients yet: clips nothing)
    watching = {group: c for group, c in (("scheduler", schedule), ("early_stopping", early_stopping))}
    watchers = [c for c in watching.values() if isinstance(c, Watcher)]
    if settings.diagnostics_every:  # a watcher, so that its running sums travel in the checkpoint
        watchers.append(LayerStats(model, settings.diagnostics_every))
    for group, watcher in watching.items():
        needs = (
            [m for m in watcher.monitored() if m.startswith("val_")] if isinstance(watcher, Watcher) else []
        )
        if needs and not validation:
            raise UserError(
                f"{group}.monitor={needs[0]}: needs a validation set, and dataset.val_fraction=0 leaves none"
            )
    return Components(
        regularization=regularization,
        model=model,
        optimizer=optimizer,
        schedule=schedule,
        clip=clip,
        augment=make(cfg, "augmentation"),
        watchers=watchers,
        preprocess=make(cfg, "preprocess"),
        scaler=LossScaler(enabled=settings.precision == "fp16"),
    )


def check(cfg: DictConfig) -> tuple[TrainerSettings, Dataset, torch.device]:
    """Every check that needs no data: unknown keys, the device, and the values of every component
    (a dry build). Returns the trainer settings, the dataset (not yet read) and the device."""
    config.check_keys(cfg)
    settings: TrainerSettings = make(cfg, "trainer")
    dataset: Dataset = make(cfg, "dataset")
    device = pick_device(settings.device)
    autocast(settings.precision, device)  # refuses a type the device cannot autocast to
    validation = dataset.val_fraction > 0
    build(cfg, settings, dataset.in_shape, dataset.num_classes, NOMINAL_STEPS_PER_EPOCH, validation)
    return settings, dataset, device


def run(
    cfg: DictConfig, run_dir: Path, hydra: DictConfig | None = None, sweep: bool = False
) -> dict[str, Any]:
    """Train and test one configuration, leaving TensorBoard events, checkpoint.pt, epochs.csv,
    metrics.json and the composed config (``.hydra/``, with ``hydra``, Hydra's node) in ``run_dir``;
    return the metrics.

    Nothing is written before every check has passed and the folder is claimed (see
    :mod:`netopt.run_folder`). A job of a ``sweep`` run again into its folder returns the metrics of
    the completed run it holds, or continues it from its checkpoint.
    """
    t, dataset, device = check(cfg)
    world, device = join(t.strategy, device)
    folder = world.folder(run_dir)  # claimed by the main process; the others follow its decisions
    run_dir = folder.path
    folder.claim()
    composed = config.container(cfg)
    history, started = History(), False
    try:
        resume = t.resume
        if sweep and not resume and folder.holds_run():
            done = folder.completed_metrics(composed)
            if done is not None:
                log.info("%s: completed before with the same settings, skipped", run_dir)
                return done
            resume = "auto"
        saved = folder.resumable(composed, resume)
        folder.mark()
        if t.num_threads:
            torch.set_num_threads(t.num_threads)
        torch.use_deterministic_algorithms(t.deterministic, warn_only=True)
        # deterministic mode also fills every new tensor with NaN, a debugging aid that costs 8% of a
        # small CNN's step on a CPU; netopt never reads memory it has not written
        torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]
        with config_key("dataset"):
            data = dataset.load()
        rng = RandomState(t.seed, device)
        world.check_batches(len(data.train), t.batch_size, t.limit_batches)
        steps_per_epoch = num_batches(len(data.train), t.batch_size, t.limit_batches)
        parts = build(cfg, t, data.in_shape, data.num_classes, steps_per_epoch, dataset.val_fraction > 0)
        world.own_streams(rng.noise)  # after the build: the optimizer's noise seed is every process's
        parts.preprocess.fit(data.train.x)
        checkpoint = Checkpoint(
            folder.checkpoint,
            composed,
            {
                "model": parts.model,
                "optimizer": parts.optimizer,
                "watchers": parts.watchers,
                "preprocess": parts.preprocess,
                "rng": world.per_process(rng),
                "history": history,
                "initial_model": Snapshot(parts.model),
                **({"scaler": parts.scaler} if parts.scaler.enabled else {}),
            },
            writes=world.is_main,
        )
        if saved is not None:
            checkpoint.restore(saved)
        started = world.is_main  # the main process writes the run's records, the others none
        log.info("run folder: %s", run_dir)
        if started:
            write_config(run_dir, cfg, hydra)
        if saved is not None:
            log.info("resumed from %s at epoch %d, step %d", folder.checkpoint, history.epoch, history.step)
        metrics = train(
            cfg,
            parts,
            data.map(parts.preprocess).to(device),
            t,
            history,
            rng,
            run_dir,
            checkpoint,
            saved is not None,
            hydra,
            world,
        )
    except KeyboardInterrupt:
        if started:
            write_metrics(run_dir, {"status": "interrupted", "epochs": history.epoch, "steps": history.step})
        raise
    except Exception as error:
        if started and folder.fresh:  # a run that fails leaves its own record, never touches another's
            cause = user_error(error)
            reason = str(cause or error).strip().splitlines() or [type(error).__name__]
            with contextlib.suppress(UserError):  # the disk may be full: the error below says so
                write_metrics(run_dir, {"status": "failed", "error": reason[0]})
        raise
    finally:
        folder.release(abandon=not started)
    if world.is_main:
        write_metrics(run_dir, metrics)
    return metrics


def train(
    cfg: DictConfig,
    parts: Components,
    data: Data,
    t: TrainerSettings,
    history: History,
    rng: RandomState,
    run_dir: Path,
    checkpoint: Checkpoint,
    resumed: bool,
    hydra: DictConfig | None,
    world: World,
) -> dict[str, Any]:
    """Fit ``parts`` on ``data`` from where ``history`` stands, logging into ``run_dir``; the metrics."""
    device = data.train.x.device
    nhwc = channels_last(t.channels_last, parts.model, device)
    memory_format = torch.channels_last if nhwc else torch.contiguous_format
    parts.model.to(device).to(memory_format=memory_format)
    model = world.wrap(parts.model)
    recorder = (Recorder if world.is_main else SilentRecorder)(
        run_dir, purge_step=history.step if resumed else None
    )
    trainer = Trainer(
        model=CompiledModule(model) if t.compile else model,
        optimizer=parts.optimizer,
        schedule=parts.schedule,
        clip=parts.clip,
        augment=parts.augment,
        data=data,
        recorder=recorder,
        history=history,
        rng=rng,
        max_epochs=t.max_epochs,
        batch_size=t.batch_size,
        eval_batch_size=t.eval_batch_size,
        limit_batches=t.limit_batches,
        progress=t.progress and world.is_main,
        loss_fn=parts.regularization.loss,
        penalty=parts.regularization.penalties,
        after_step=parts.regularization.step_hook(parts.optimizer),
        measure=parts.regularization.measures,
        watchers=[*parts.watchers, *probes(parts.model, data, recorder, t)],
        world=world,
        autocast=autocast(t.precision, device),
        scaler=parts.scaler,
        memory_format=memory_format,
        grad_norm_every=t.grad_norm_every,
    )
    if history.step == 0 and isinstance(parts.augment, Augmentation) and parts.augment.enabled:
        generator = torch.Generator(data.train.x.device).manual_seed(t.seed)
        recorder.figure(
            "augmentation/samples", augmentation_figure(data.train.x, parts.augment, generator), 0
        )
    for stats in (watcher for watcher in parts.watchers if isinstance(watcher, LayerStats)):
        stats.follow(parts.optimizer, recorder, start=history.step)
    try:
        metrics = trainer.fit(on_epoch_end=checkpoint.save)
        if hydra is not None:
            choices, overrides = dict(hydra.runtime.choices), list(hydra.overrides.task)
        else:  # a run from Python: each group's component
            groups = [str(g) for g in cfg if isinstance(cfg[g], DictConfig) and "_target_" in cfg[g]]
            choices = {g: cfg[g]._target_.rsplit(".", 1)[-1] for g in groups}
            overrides = []
        recorder.hparams(compared(cfg, choices, overrides), metrics, max(history.step - 1, 0))
    finally:  # a failed job of a multirun must not leave its writer thread behind
        recorder.close()
    return metrics


def probes(model: torch.nn.Module, data: Data, recorder: Recorder, t: TrainerSettings) -> list[Watcher]:
    """The instruments that watch a run: sharpness and trace every ``trainer.sharpness_every`` epochs,
    the test under Monte-Carlo dropout with ``trainer.mc_samples``, and a recurrent model's net input
    per time step."""
    watchers: list[Watcher] = []
    if t.sharpness_every:
        batches = fixed_batches(data.train, seed=t.seed)
        sharpness = SharpnessProbe(model, batches, recorder, t.sharpness_every, t.layer_sharpness, t.seed)
        watchers.append(sharpness)
    if t.mc_samples:
        test = MCDropoutTest(model, data.test, t.mc_samples, t.eval_batch_size, t.seed, t.limit_batches)
        watchers.append(test)
    if isinstance(model, RNN):
        x = fixed_batches(data.train, samples=512, seed=t.seed, batch_size=512)[0][0]
        watchers.append(NetInputProbe(model, x, recorder))
    return watchers


def write_config(run_dir: Path, cfg: DictConfig, hydra: DictConfig | None) -> None:
    """``.hydra/config.yaml`` (the composed config) and, from Hydra's node, ``hydra.yaml`` and
    ``overrides.yaml`` (what was typed)."""
    folder = run_dir / ".hydra"
    folder.mkdir(exist_ok=True)
    write_text(folder / "config.yaml", OmegaConf.to_yaml(cfg))
    if hydra is not None:
        write_text(folder / "hydra.yaml", OmegaConf.to_yaml({"hydra": hydra}))
        write_text(folder / "overrides.yaml", OmegaConf.to_yaml(hydra.overrides.task))


@hydra.main(version_base="1.3", config_path=None, config_name=config.PRIMARY)
def task(cfg: DictConfig) -> dict[str, Any]:
    """The Hydra task: one run in its own folder; returns the metrics (the sweepers' objective).

    A single run ends here on bad input or divergence, with one line and its exit status; inside a
    multirun a diverged run is just recorded, and bad input is raised for the sweeper to record. A run
    that fails once training has begun leaves metrics.json with status ``failed`` and the error's
    first line (in a folder of its own: a resumed run's records stay as they were).
    """
    hydra_cfg = HydraConfig.get()
    single = hydra_cfg.mode == RunMode.RUN
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        metrics = run(cfg, run_dir, cast(DictConfig, hydra_cfg), sweep=not single)
    except Exception as error:
        cause = user_error(error)
        if single and cause is not None:
            fail(f"error: {cause}", EXIT_USER_ERROR)
        raise
    if single and is_main_process():
        summary_table(metrics, title=str(run_dir))
    else:  # the sweep ends with a table of all its jobs
        log.info("%s: %s, val_acc %s", run_dir, metrics["status"], metrics["val_acc"])
    if single and metrics["status"] == "diverged":
        fail(f"diverged: the loss became NaN/inf; metrics in {run_dir / 'metrics.json'}", EXIT_DIVERGED)
    return metrics


def fail(message: str, status: int) -> NoReturn:
    print(f"netopt-train: {message}", file=sys.stderr)
    raise SystemExit(status)


def one_line(error: Exception) -> str:
    """A configuration error as one line naming the key and what is allowed."""
    text = str(error)
    for spelling, pointer in MOVED.items():
        if spelling in text or any(arg.startswith(spelling) for arg in sys.argv[1:]):
            return f"{spelling}: {pointer}"
    if isinstance(error, MissingConfigException) and error.options is not None:
        group = (error.missing_cfg_file or "").rsplit("/", 1)[0]
        option = (error.missing_cfg_file or "").rsplit("/", 1)[-1]
        return f"{group}={option}: no such option; choose one of {', '.join(sorted(error.options))}"
    cause = error if isinstance(error, OmegaConfBaseException) else error.__cause__
    if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
        message = str(getattr(cause, "msg", cause)).strip().splitlines()[0]
        if isinstance(cause, (ConfigKeyError, ConfigAttributeError)):
            message = f"unknown key; allowed: {', '.join(sorted(allowed_keys(cause)))}"
        return f"{cause.full_key}: {message}"
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " ".join(lines[:3]) or type(error).__name__


def allowed_keys(error: ConfigKeyError | ConfigAttributeError) -> list[str]:
    """The keys of the config node an unknown key was set on (its schema's fields)."""
    if is_dataclass(error.object_type):
        return [f.name for f in fields(error.object_type) if not f.name.startswith("_")]
    node = error.parent_node if error.parent_node is not None else error.child_node
    return [str(key) for key in node] if node is not None else []


def print_help(arguments: list[str]) -> None:
    """``netopt-train --help``: the groups and their options, then the fields of the chosen ones."""
    from hydra import compose, initialize

    overrides = [a for a in arguments if "=" in a and not a.startswith("-") and "," not in a]
    with initialize(version_base="1.3", config_path=None):
        cfg = compose(config.PRIMARY, overrides=overrides, return_hydra_config=True)
    choices = dict(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    print(HELP, config.help_text(cfg, choices), FOOTER, sep="\n\n")


def main() -> None:
    """Console entry point: Hydra's composition errors become one line and exit status 2."""
    config.register()
    show_traceback = os.environ.get("HYDRA_FULL_ERROR") == "1"  # Hydra's own meaning
    if "--help" in sys.argv[1:] or "-h" in sys.argv[1:]:
        print_help(sys.argv[1:])
        return
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let errors reach us instead of Hydra's multi-line report
    try:
        task()
    except KeyboardInterrupt:
        fail(
            "interrupted; the last epoch's checkpoint is kept (continue with trainer.resume=true)",
            EXIT_INTERRUPTED,
        )
    except UserError as error:  # raised by a sweeper (e.g. too many failed trials)
        fail(f"error: {error}", EXIT_USER_ERROR)
    except (HydraException, OmegaConfBaseException) as error:
        if show_traceback:
            raise
        fail(f"error: {one_line(error)}", EXIT_USER_ERROR)
    except OSError as error:  # a run folder Hydra cannot create, a full disk
        fail(f"error: {error.filename or ''}: {error.strerror or error}", EXIT_USER_ERROR)


if __name__ == "__main__":
    main()
