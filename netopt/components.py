"""Every component of a run, built from the config: each config group's ``_target_`` instantiated,
the partials called with what the runner supplies (the input's shape, the parameters, the run's
length in steps).

:func:`preflight` checks a config without reading any data (a dry build, in which every component
checks its own values); :func:`assemble` builds the components of the run itself.
"""

import logging
import math
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig

from netopt import config
from netopt.averaging import EvaluationWeights, WeightAverage, evaluation_weights
from netopt.checks import require
from netopt.data.datasets import Dataset
from netopt.data.preprocess import Preprocess
from netopt.errors import ConfigValueError, UserError, config_key, first_line
from netopt.loop import AugmentFn, Clip
from netopt.models import require_fits
from netopt.nn.norm import NormLayer
from netopt.optim import compile_update, with_transforms
from netopt.optim.sam import SAM
from netopt.precision import LossScaler, autocast
from netopt.probes import Probe, ProbeContext
from netopt.probes.monitor import available_metrics
from netopt.regularization import Regularizers
from netopt.regularization.regularizer import DataLoss
from netopt.schedules import Schedule
from netopt.settings import TrainerSettings
from netopt.tasks import Task, task_of

log = logging.getLogger(__name__)

#: Steps per epoch assumed by the dry build, before the data is read: large, so that no duration given
#: in epochs rounds to zero steps there (the real build checks them against the real length).
NOMINAL_STEPS_PER_EPOCH = 10_000


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
        raise UserError(
            f"trainer.device={name}: not available here ({first_line(error)}); use {allowed}"
        ) from None
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
    of group ``grad_noise`` leaves them (:func:`netopt.optim.with_transforms`). A hyperparameter too
    large for the parameters' type (``lr=1e39`` with float32 weights) is refused."""
    optimizer = make(cfg, "optimizer", params)
    for group in optimizer.param_groups:
        largest = min((torch.finfo(p.dtype).max for p in group["params"] if p.is_floating_point()), default=0)
        for key, value in group.items():
            if isinstance(value, float) and largest and math.isfinite(value) and abs(value) > largest:
                raise ConfigValueError(
                    f"optimizer.{key}", value, f"at most {largest:.3g} (the weights' type)"
                )
    return with_transforms(optimizer, grad_noise=make(cfg, "grad_noise"))


def norm_parameters(model: torch.nn.Module) -> set[int]:
    """The ids of the normalization layers' parameters (gammas, betas)."""
    return {id(p) for m in model.modules() if isinstance(m, NormLayer) for p in m.parameters()}


def param_groups(model: torch.nn.Module, settings: TrainerSettings) -> list[Any]:
    """The model's parameters as the optimizer's param groups: one, or with ``trainer.norm_lr_scale``
    or ``trainer.norm_weight_decay`` set, the rest then the normalization layers' (gammas, betas)."""
    if settings.norm_lr_scale == 1.0 and settings.norm_weight_decay is None:
        return list(model.parameters())
    norms, every = norm_parameters(model), list(model.parameters())
    return [
        {"params": [p for p in every if id(p) not in norms]},
        {"params": [p for p in every if id(p) in norms]},
    ]


def tune_norm_group(
    optimizer: torch.optim.Optimizer, model: torch.nn.Module, settings: TrainerSettings
) -> None:
    """Every param group of only normalization parameters (:func:`param_groups`; an optimizer that
    splits its groups, as Muon's, keeps them apart): lr x ``norm_lr_scale``, weight decay
    ``norm_weight_decay`` when set."""
    if settings.norm_lr_scale == 1.0 and settings.norm_weight_decay is None:
        return
    norms = norm_parameters(model)
    for group in optimizer.param_groups:
        if not group["params"] or any(id(p) not in norms for p in group["params"]):
            continue
        group["lr"] *= settings.norm_lr_scale
        if settings.norm_weight_decay is not None:
            if "weight_decay" not in group:
                raise UserError(
                    f"trainer.norm_weight_decay={settings.norm_weight_decay}: this optimizer has no "
                    "weight decay; leave it null"
                )
            group["weight_decay"] = settings.norm_weight_decay


def scale_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """The linear scaling rule: lr = lr_base * K / K_base in every param group."""
    for group in optimizer.param_groups:
        group["lr"] *= factor
    log.info("linear scaling rule: lr x %g (trainer.batch_size / trainer.base_batch_size)", factor)


@dataclass
class Components:
    """Everything a run trains with, built from the config."""

    regularization: Regularizers
    model: torch.nn.Module
    task: Task  # the model's: the loss's target and the evaluation's metrics (netopt.tasks)
    loss: DataLoss  # the task's data loss, as the regularizers transform it
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    clip: Clip
    augment: AugmentFn
    probes: list[Probe]  # the probes of the probes group, then the watching components
    context: ProbeContext
    preprocess: Preprocess
    scaler: LossScaler
    weights: EvaluationWeights | None = None  # the averager's or the optimizer's (netopt.averaging)


def assemble(
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
    with config_key("regularization"):  # a dict of regularizers, each built by its _target_
        regularization = Regularizers.from_config(cfg.regularization)
        taken = regularization.model_arguments(get_object(cfg.model._target_), cfg.model)
    model_of_config = partial(make, cfg, "model", in_shape, num_classes, make(cfg, "norm"), **taken)
    require_fits(model_of_config)
    model = model_of_config()
    task = task_of(model)
    with config_key("regularization"):
        loss = regularization.data_loss(task.loss)
    with config_key("init"):
        instantiate(cfg.init)(model, **model.init_arguments())
    regularization.attach(model)
    optimizer = make_optimizer(cfg, param_groups(model, settings))
    tune_norm_group(optimizer, model, settings)
    if settings.compile_optimizer:
        with config_key("trainer"):
            compile_update(optimizer)
    steps_sam = any(isinstance(o, SAM) for o in (optimizer, getattr(optimizer, "base", None)))  # Lookahead's
    if settings.precision == "fp16" and steps_sam:
        raise UserError(
            "trainer.precision=fp16: not with optimizer=sam (a step whose gradients overflow cannot be "
            "skipped between its two passes); use trainer.precision=bf16"
        )
    if settings.linear_scaling_rule:
        scale_lr(optimizer, settings.batch_size / settings.base_batch_size)
    epochs = settings.schedule_epochs or settings.max_epochs
    schedule = make(cfg, "scheduler", steps_per_epoch * epochs, steps_per_epoch)
    averaging: WeightAverage | None = make(cfg, "averaging", model, steps_per_epoch, epochs)
    weights = evaluation_weights(optimizer) or averaging
    if averaging is not None and weights is not averaging:
        name = type(weights).__name__
        raise UserError(f"averaging: not with {name}, which evaluates its own average; use averaging=none")
    early_stopping = make(cfg, "early_stopping", model)
    clip = plain(make(cfg, "clip"))
    with config_key("clip"):
        clip(model.parameters())  # checks its values (no gradients yet: clips nothing)
    context = ProbeContext(model, optimizer, settings.seed, settings.eval_batch_size, settings.limit_batches)
    probes = {}
    for name in map(str, cfg.probes):
        with config_key(f"probes.{name}"):
            probes[f"probes.{name}"] = instantiate(cfg.probes[name])(context)
    watching = {"averaging": averaging, **probes, "scheduler": schedule, "early_stopping": early_stopping}
    watching = {key: c for key, c in watching.items() if isinstance(c, Probe)}
    available = available_metrics(probes.values())  # checked before training starts
    has = f"a metric a {task.name} model has ({', '.join(m for m in available if m not in task.absent)})"
    for key, probe in watching.items():
        for name in probe.monitored():  # a metric the task has none of: always NaN, it never improves
            require(name not in task.absent, f"{key}.monitor", has, name)
        with config_key(key):
            probe.watch(available)
        needs = [m for m in probe.monitored() if m.startswith("val_")]
        if needs and not validation:
            raise UserError(
                f"{key}.monitor={needs[0]}: needs a validation set, and dataset.val_fraction=0 leaves none"
            )
    return Components(
        regularization=regularization,
        model=model,
        task=task,
        loss=loss,
        optimizer=optimizer,
        schedule=averaging.lr_schedule(schedule, optimizer.param_groups[0]["lr"]) if averaging else schedule,
        clip=clip,
        augment=make(cfg, "augmentation"),
        probes=list(watching.values()),
        context=context,
        preprocess=make(cfg, "preprocess"),
        scaler=LossScaler(enabled=settings.precision == "fp16"),
        weights=weights,
    )


def preflight(cfg: DictConfig) -> tuple[TrainerSettings, Dataset, torch.device]:
    """Every check that needs no data: unknown keys, the device, and the values of every component
    (a dry build). Returns the trainer settings, the dataset (not yet read) and the device."""
    config.check_keys(cfg)
    settings: TrainerSettings = make(cfg, "trainer")
    dataset: Dataset = make(cfg, "dataset")
    device = pick_device(settings.device)
    autocast(settings.precision, device)  # refuses a type the device cannot autocast to
    validation = dataset.val_fraction > 0
    assemble(cfg, settings, dataset.in_shape, dataset.num_classes, NOMINAL_STEPS_PER_EPOCH, validation)
    return settings, dataset, device
