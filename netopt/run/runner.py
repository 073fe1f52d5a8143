"""One run's life in its folder: claim it, decide whether to resume, build, train, checkpoint, record.

:func:`run` checks the config (nothing is written before every check has passed and the folder is
claimed: :mod:`netopt.run.folder`), reads the data, builds the components
(:mod:`netopt.components`), restores the checkpoint it resumes from, trains with
:class:`netopt.loop.Trainer`, and leaves TensorBoard events, checkpoint.pt, epochs.csv, metrics.json
and the composed config (``.hydra/``) in the folder. A run that fails once it has begun leaves
metrics.json with status ``failed`` (or ``interrupted`` on Ctrl-C).
"""

import contextlib
import logging
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from netopt import config
from netopt.compiling import CompiledModule
from netopt.components import Components, assemble, channels_last, preflight
from netopt.data import Data
from netopt.data.augment import Augment as Augmentation
from netopt.data.batches import num_batches
from netopt.distributed import World, join
from netopt.errors import UserError, config_key, first_line, user_error
from netopt.files import write_text
from netopt.hpo.fork import hyperparameters, take_hyperparameters
from netopt.loop import Trainer
from netopt.models import Model
from netopt.precision import autocast
from netopt.run.checkpoint import Checkpoint, Snapshot
from netopt.run.folder import differences, discard_empty, run_folder
from netopt.run.record import Recorder, SilentRecorder, augmentation_figure, compared, write_metrics
from netopt.settings import TrainerSettings
from netopt.state import History, RandomState

log = logging.getLogger(__name__)

#: The training images a model's data-dependent initialization sees (``Model.fit_inputs``).
FIT_INPUTS = 2000


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run, once its folder holds its records; the message says how to continue it."""


def interruption(checkpoint: Path, run_dir: Path) -> str:
    """What an interrupted run left: the checkpoint it continues from, or none yet (it starts again)."""
    again = f"trainer.resume=true hydra.run.dir={run_dir}"
    if checkpoint.exists():
        return f"interrupted; the last epoch's checkpoint is kept (continue with {again})"
    return f"interrupted before the first epoch's checkpoint; nothing to keep (start it again with {again})"


def run(
    cfg: DictConfig, run_dir: Path, hydra: DictConfig | None = None, sweep: bool = False
) -> dict[str, Any]:
    """Train and test one configuration, leaving TensorBoard events, checkpoint.pt, epochs.csv,
    metrics.json and the composed config (``.hydra/``, with ``hydra``, Hydra's node) in ``run_dir``;
    return the metrics.

    Nothing is written before every check has passed and the folder is claimed (see
    :mod:`netopt.run.folder`). A job of a ``sweep`` run again into its folder returns the metrics of
    the completed run it holds, or continues it from its checkpoint.
    """
    try:
        settings, dataset, device = preflight(cfg)
        world, device = join(settings.strategy, device)
    except BaseException:
        discard_empty(run_dir)  # Hydra made the folder: a refused config leaves none
        raise
    folder = run_folder(run_dir, world)  # claimed by the main process; the others follow its decisions
    run_dir = folder.path
    folder.claim()
    composed = config.container(cfg)
    history, started = History(), False
    try:
        resume = settings.resume
        if sweep and not resume and folder.holds_run():
            done = folder.completed_metrics(composed)
            if done is not None:
                log.info("%s: completed before with the same settings, skipped", run_dir)
                return done
            resume = "auto"
        saved = folder.resumable(composed, resume)
        folder.mark()
        threads = settings.num_threads or (None if sweep else 1)  # see TrainerSettings
        if threads:
            torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(settings.deterministic, warn_only=True)
        # deterministic mode also fills every new tensor with NaN, a debugging aid that slows a small
        # model's step measurably; netopt never reads memory it has not written
        torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]
        with config_key("dataset"):
            data = dataset.load()
        rng = RandomState(settings.seed, device)
        world.check_batches(len(data.train), settings.batch_size, settings.limit_batches)
        steps_per_epoch = num_batches(len(data.train), settings.batch_size, settings.limit_batches)
        parts = assemble(
            cfg, settings, data.in_shape, data.num_classes, steps_per_epoch, dataset.val_fraction > 0
        )
        world.own_streams(rng.noise)  # after the build: the optimizer's noise seed is every process's
        parts.model.to(device)  # before a checkpoint's optimizer state loads: torch moves it to the params'
        parts.preprocess.fit(data.train.x)
        if isinstance(parts.model, Model):  # data-dependent initialization (a whitening first layer)
            parts.model.fit_inputs(parts.preprocess(data.train.x[:FIT_INPUTS]))
        checkpoint = Checkpoint(
            folder.checkpoint,
            composed,
            {
                "model": parts.model,
                "optimizer": parts.optimizer,
                "probes": parts.probes,
                "preprocess": parts.preprocess,
                "rng": world.per_process(rng),
                "history": history,
                "initial_model": Snapshot(parts.model),
                **({"scaler": parts.scaler} if parts.scaler.enabled else {}),
            },
            writes=world.is_main,
        )
        if saved is not None:
            values = hyperparameters(parts.optimizer)  # the config's, which a fork's differ in
            checkpoint.restore(saved)
            if differences(saved.get("config", {}), composed):  # a fork: its folder allowed them
                take_hyperparameters(parts.optimizer, values)
        started = world.is_main  # the main process writes the run's records, the others none
        log.info("run folder: %s", run_dir)
        if started:
            write_config(run_dir, cfg, hydra)
        if saved is not None:
            log.info("resumed from %s at epoch %d, step %d", folder.checkpoint, history.epoch, history.step)
        metrics = _train(
            cfg,
            parts,
            data.map(parts.preprocess).to(device),
            settings,
            history,
            rng,
            run_dir,
            checkpoint,
            not folder.fresh,
            hydra,
            world,
        )
    except KeyboardInterrupt:
        if not started:
            raise
        write_metrics(run_dir, {"status": "interrupted", "epochs": history.epoch, "steps": history.step})
        raise Interrupted(interruption(folder.checkpoint, run_dir)) from None
    except Exception as error:
        lost = world.lost(error)  # another process died: one line, not gloo's traceback
        if started and folder.fresh:  # a run that fails leaves its own record, never touches another's
            cause = lost or user_error(error)
            with contextlib.suppress(UserError):  # the disk may be full: the error below says so
                write_metrics(run_dir, {"status": "failed", "error": first_line(cause or error)})
        if lost is not None:
            raise lost from None
        raise
    finally:
        folder.release(abandon=not started)
    if world.is_main:
        write_metrics(run_dir, metrics)
    return metrics


def _train(
    cfg: DictConfig,
    parts: Components,
    data: Data,
    settings: TrainerSettings,
    history: History,
    rng: RandomState,
    run_dir: Path,
    checkpoint: Checkpoint,
    continued: bool,
    hydra: DictConfig | None,
    world: World,
) -> dict[str, Any]:
    """Fit ``parts`` on ``data`` from where ``history`` stands, logging into ``run_dir`` (``continued``:
    a folder with earlier events, of which those from ``history.step`` on are dropped); the metrics."""
    device = data.train.x.device
    nhwc = channels_last(settings.channels_last, parts.model, device)
    memory_format = torch.channels_last if nhwc else torch.contiguous_format
    parts.model.to(device).to(memory_format=memory_format)
    model = world.wrap(parts.model)
    recorder = (Recorder if world.is_main else SilentRecorder)(
        run_dir, purge_step=history.step if continued else None
    )
    parts.context.data, parts.context.recorder = data, recorder  # what the probes measure and log to
    trainer = Trainer(
        model=CompiledModule(model) if settings.compile else model,
        optimizer=parts.optimizer,
        schedule=parts.schedule,
        clip=parts.clip,
        augment=parts.augment,
        data=data,
        recorder=recorder,
        history=history,
        rng=rng,
        max_epochs=settings.max_epochs,
        batch_size=settings.batch_size,
        eval_batch_size=settings.eval_batch_size,
        limit_batches=settings.limit_batches,
        progress=settings.progress and world.is_main,
        loss_fn=parts.loss,
        task=parts.task,
        penalty=parts.regularization.penalties,
        after_step=parts.regularization.step_hook(parts.optimizer),
        measure=parts.regularization.measures,
        probes=parts.probes,
        world=world,
        autocast=autocast(settings.precision, device),
        scaler=parts.scaler,
        memory_format=memory_format,
        grad_norm_every=settings.grad_norm_every,
        weights=parts.weights,
        **({"epoch_inputs": parts.augment.epoch_inputs} if isinstance(parts.augment, Augmentation) else {}),
    )
    if history.step == 0 and isinstance(parts.augment, Augmentation) and parts.augment.enabled:
        generator = torch.Generator(data.train.x.device).manual_seed(settings.seed)
        recorder.figure(
            "augmentation/samples", augmentation_figure(data.train.x, parts.augment, generator), 0
        )
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


def write_config(run_dir: Path, cfg: DictConfig, hydra: DictConfig | None) -> None:
    """``.hydra/config.yaml`` (the composed config) and, from Hydra's node, ``hydra.yaml`` and
    ``overrides.yaml`` (what was typed)."""
    folder = run_dir / ".hydra"
    folder.mkdir(exist_ok=True)
    write_text(folder / "config.yaml", OmegaConf.to_yaml(cfg))
    if hydra is not None:
        write_text(folder / "hydra.yaml", OmegaConf.to_yaml({"hydra": hydra}))
        write_text(folder / "overrides.yaml", OmegaConf.to_yaml(hydra.overrides.task))
