"""The training loop. It takes built components and knows nothing of which optimizer, schedule,
normalization, regularization or augmentation it runs.

Per iteration t: draw a batch (of the inputs as the epoch sees them: alternating flips), augment it,
set every param group's lr to its base lr times the schedule's factor for step t, let the optimizer
step with a closure that runs forward and loss (under autocast, ``trainer.precision``), backward and
clipping (an optimizer such as SAM calls it twice; without clipping the gradient norm is measured
every ``grad_norm_every`` steps), then call the after-step hook (the proximal L1 step) and the
probes' ``on_step``. Under fp16 the loss scaler wraps
the step: the closure back-propagates the scaled loss and unscales the gradients before clipping,
and a step whose gradients overflowed is skipped (:class:`netopt.precision.LossScaler`). Per epoch:
measure the model (the fraction of zero weights), validate (the best epoch is that of the best value of
the task's monitored metric so far: val_acc, or an autoencoder's val_loss), hand the metrics to the
probes in order, each adding its own for those after it (the measuring probes, then the watchers: the
plateau schedule, early stopping), save the checkpoint. At the end: the probes act once more in reverse
order (early stopping puts back its best weights before the probes measure them), then the final
evaluation of the training and the test split. So ``train_loss_running``/``train_acc_running`` (per
epoch) are measured on the batches as they are trained (train mode, augmented, the weights changing;
``train/batch_loss`` per step), ``train_loss``/``train_acc`` by that evaluation (eval mode, unaugmented).
Every evaluation (validation, the probes, the checkpoint, the final test) sees the weights to evaluate
where :attr:`Trainer.weights` tells them apart from the trained ones (an average: :mod:`netopt.averaging`).
A non-finite loss stops the run with status ``diverged`` (an fp16 step skipped for overflowing
gradients has a finite loss). What the loss compares the output with, and what an evaluation measures,
is the model's task (:mod:`netopt.tasks`): class indices and accuracy, or the input (an autoencoder's
reconstruction), whose accuracies are NaN.
"""

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from netopt.averaging import EvaluationWeights
from netopt.console import REFRESH_S, progress_bar
from netopt.data import Data, batches
from netopt.data.batches import num_batches
from netopt.distributed import World
from netopt.errors import Diverged
from netopt.evaluation import Evaluator
from netopt.optim.clip import grad_norm
from netopt.precision import AutocastFactory, LossScaler
from netopt.probes.base import Probe
from netopt.schedules import Schedule
from netopt.state import History, RandomState
from netopt.tasks import CLASSIFICATION, Task

log = logging.getLogger(__name__)

LossFn = Callable[[Tensor, Tensor], Tensor]
Clip = Callable[[Iterable[Tensor]], Tensor | None]  # the pre-clip gradient norm, or None if not measured
AugmentFn = Callable[[Tensor, torch.Generator], Tensor]  # a batch and a generator -> the augmented batch
Penalty = Callable[[], dict[str, Tensor]]
Measure = Callable[[], dict[str, float]]


class Recorder(Protocol):
    """Where the loop's numbers go (:class:`netopt.run.record.Recorder` writes them to the run folder)."""

    def scalars(self, values: Mapping[str, float], step: int) -> None: ...

    def epoch_end(self, rows: Sequence[Mapping[str, Any]]) -> None: ...


@dataclass
class Trainer:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: Schedule  # factor(t) of every group's base lr
    clip: Clip
    augment: AugmentFn
    data: Data
    recorder: Recorder
    history: History
    rng: RandomState
    max_epochs: int
    batch_size: int
    eval_batch_size: int
    limit_batches: int | None = None
    progress: bool = True
    loss_fn: LossFn = F.cross_entropy  # the task's data loss, as the regularizers transform it
    task: Task = CLASSIFICATION  # the loss's target and the evaluation's metrics (netopt.tasks)
    penalty: Penalty = dict  # named terms added to the loss, each logged as train/<name>
    after_step: Callable[[], None] = lambda: None  # called once after every optimizer step
    measure: Measure = dict  # named measures of the model after every epoch (train/<name>, an epochs.csv
    # column each) and at the end (the final metrics)
    probes: Sequence[Probe] = ()  # measuring probes, then watchers (netopt.probes.base)
    world: World = field(default_factory=World)  # the processes training together (netopt.distributed)
    autocast: AutocastFactory = contextlib.nullcontext  # the context of forward and loss (trainer.precision)
    scaler: LossScaler = field(default_factory=lambda: LossScaler(enabled=False))  # fp16's loss scaling
    memory_format: torch.memory_format = torch.contiguous_format  # of the input batches (channels_last)
    grad_norm_every: int = 10  # steps between measures of the gradient norm when ``clip`` returns none
    epoch_inputs: Callable[[Tensor, int, torch.Generator], Tensor] = lambda x, epoch, generator: x
    weights: EvaluationWeights | None = None  # the weights to evaluate, an average (netopt.averaging)

    def __post_init__(self) -> None:
        self.params = [p for group in self.optimizer.param_groups for p in group["params"]]
        for group in self.optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.steps_per_epoch = num_batches(len(self.data.train), self.batch_size, self.limit_batches)
        self.hits = self.task.hits()  # the correct predictions of the epoch so far
        self.stepping = [p for p in self.probes if type(p).on_step is not Probe.on_step]
        evaluation = (self.eval_batch_size, self.limit_batches, self.world, self.autocast, self.memory_format)
        self.evaluator = Evaluator(self.model, *evaluation, self.weights, self.task)

    # --- one iteration -------------------------------------------------------------------------
    def set_lr(self, t: int) -> float:
        factor = self.schedule(t)
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor
        return self.optimizer.param_groups[0]["lr"]

    def train_step(self, x: Tensor, y: Tensor, total: int | None = None) -> dict[str, float]:
        """One optimizer step; the train scalars to log (data loss, gradient norm, each penalty). The
        batch's predictions go to :attr:`hits`. ``(x, y)`` is this process's shard of a global batch
        of ``total`` samples (all of it by default), ``y`` the task's target (:meth:`Task.target`)."""
        total = len(y) if total is None else total
        measured: list[dict[str, Tensor]] = []

        def closure() -> Tensor:
            with self.autocast():
                logits = self.model(x)
                loss = self.loss_fn(logits, y)
            penalties = self.penalty()
            objective = sum(penalties.values(), self.world.weigh(loss, len(y), total))
            # the last step's gradients are dropped only now: freed before the forward pass, their
            # memory would be split up by its activations, and backward would page in fresh memory
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale_loss(objective).backward()
            self.scaler.unscale_(self.params)  # the true gradients, for the clip and the norm
            norm = self.clip(self.params)
            if norm is None and self.history.step % self.grad_norm_every == 0:
                norm = grad_norm(self.params)
            if not measured:  # the first pass of SAM's two
                self.hits.add(logits, y)
            norms = {} if norm is None else {"grad_norm": norm}
            measured.append({**norms, **penalties})
            return loss

        scale = self.scaler.scale  # this step's loss scale (fp16)
        try:
            loss, stepped = self.scaler.step(self.optimizer, closure)
        except RuntimeError as error:  # a step too large for the weights' type (e.g. lr 1e38 in float32)
            if "overflow" not in str(error):
                raise
            raise Diverged(f"the update overflowed the weights' type at step {self.history.step}") from None
        if stepped:
            self.after_step()
        names = ["train/batch_loss", *(f"train/{name}" for name in measured[0])]
        merged = self.world.merge([loss.detach(), *measured[0].values()], len(y), total)  # the step's sync
        values = dict(zip(names, merged, strict=True))
        if not math.isfinite(batch_loss := values["train/batch_loss"]):
            raise Diverged(f"the training loss became {batch_loss} at step {self.history.step}")
        if self.scaler.enabled:
            values["train/loss_scale"] = scale
        return values

    # --- epochs --------------------------------------------------------------------------------
    def train_epoch(self, bar: Any, task: Any) -> None:
        h = self.history
        self.model.train()
        total_loss, seen, start = 0.0, 0, time.perf_counter()
        self.hits = self.task.hits()
        shown = start  # when the bar was last updated
        inputs = self.epoch_inputs(self.data.train.x, h.epoch, self.rng.noise)
        train = batches(inputs, self.data.train.y, self.batch_size, self.rng.order, self.limit_batches)
        for i, (x, y) in enumerate(train, 1):
            x, y, n = self.world.shard(x, y)
            x = self.augment(x, self.rng.noise).contiguous(memory_format=self.memory_format)
            lr = self.set_lr(h.step)
            scalars = self.train_step(x, self.task.target(x, y), n)
            for probe in self.stepping:
                probe.on_step(h.step)
            scalars["train/lr"] = lr
            self.recorder.scalars(scalars, h.step)
            loss = scalars["train/batch_loss"]
            h.step += 1
            total_loss += loss * n
            seen += n
            if self.progress and (
                (now := time.perf_counter()) - shown > REFRESH_S or i == self.steps_per_epoch
            ):
                bar.update(
                    task,
                    completed=h.step,
                    description=f"epoch {h.epoch + 1}/{self.max_epochs}",
                    loss=f"{total_loss / seen:.4f}",
                    lr=f"{lr:.3g}",
                    speed=f"{seen / (now - start):,.0f}",
                )
                shown = now
        correct = self.world.sum(self.hits.total()).item()
        h.train_samples += seen
        h.train_time_s += time.perf_counter() - start
        h.train_loss_running, h.train_acc_running = total_loss / max(seen, 1), correct / max(seen, 1)

    def validate(self) -> None:
        """Measure the model, evaluate on the validation split, log, hand the metrics to the probes
        (each adds its own; a watcher may stop the run)."""
        h = self.history
        measured = self.measure()
        metrics: dict[str, float] = {"epoch": h.epoch, "step": h.step}
        metrics |= {"train_loss_running": h.train_loss_running, "train_acc_running": h.train_acc_running}
        metrics |= measured
        if len(self.data.val):
            h.val_loss, h.val_acc, h.val_ece = self.evaluator.evaluate(self.data.val)
            h.keep_best(self.task.monitor, self.task.mode)
            metrics |= {"val_loss": h.val_loss, "val_acc": h.val_acc, "val_ece": h.val_ece}
        train = _tags(metrics, "train") | {f"train/{name}": value for name, value in measured.items()}
        self.recorder.scalars({**train, **_tags(metrics, "val")}, h.step - 1)
        for probe in self.probes:
            metrics |= probe.on_validation(metrics)
        h.epochs.append({**metrics, "lr": self.optimizer.param_groups[0]["lr"]})
        h.stopped = any(probe.stop() for probe in self.probes)

    # --- the whole run -------------------------------------------------------------------------
    def fit(self, on_epoch_end: Callable[[], None] = lambda: None) -> dict[str, Any]:
        """Train up to ``max_epochs`` (from where a resumed run stopped), then test; the final metrics.

        ``on_epoch_end`` runs after every epoch's validation (the runner saves the checkpoint there).
        """
        h = self.history
        start, status, end = time.perf_counter(), "completed", dict[str, Any]()
        try:
            with progress_bar(self.progress) as bar:
                task = bar.add_task(
                    f"epoch {h.epoch + 1}/{self.max_epochs}",
                    total=self.steps_per_epoch * self.max_epochs,
                    completed=h.step,
                    loss="-",
                    lr="-",
                    speed="-",
                )
                while h.epoch < self.max_epochs and not h.stopped:
                    self.evaluator.train_weights()
                    self.train_epoch(bar, task)
                    h.epoch += 1
                    # the weights to evaluate for validation, the probes, the checkpoint and the test
                    self.evaluator.evaluation_weights(self.data.train)
                    self.validate()
                    h.wall_time_s += time.perf_counter() - start
                    start = time.perf_counter()
                    h.epochs[-1]["wall_time_s"] = h.wall_time_s
                    self.recorder.epoch_end(h.epochs)
                    on_epoch_end()
                    log.info(_epoch_line(h, self.max_epochs))
            for probe in reversed(self.probes):
                end |= probe.on_fit_end()
            end |= self.measure()  # of the weights tested
            evaluate = self.evaluator.evaluate
            train_loss, train_acc, _ = evaluate(self.data.train)  # as the test split: the gap to test
            test_loss, test_acc, test_ece = evaluate(self.data.test)
            tags = {"test/loss": test_loss, "test/acc": test_acc, "test/ece": test_ece}
            self.recorder.scalars(tags, h.step - 1)
        except Diverged as error:
            log.error("diverged: %s", error)
            status, train_loss, train_acc, test_loss, test_acc, test_ece = "diverged", *[math.nan] * 5
        h.wall_time_s += time.perf_counter() - start
        return {
            "status": status,
            "train_loss": train_loss,
            "train_acc": train_acc,
            "train_loss_running": h.train_loss_running,
            "train_acc_running": h.train_acc_running,
            "val_loss": h.val_loss,
            "val_acc": h.val_acc,
            "val_ece": h.val_ece,
            **h.best(self.task.monitor),
            "test_loss": test_loss,
            "test_acc": test_acc,
            "test_ece": test_ece,
            "generalization_gap": train_acc - test_acc,  # overfitting (Qiu Xipeng, ch. 7), in one number
            "epochs": h.epoch,
            "stopped_epoch": None,
            "restored_epoch": None,
            **end,
            "steps": h.step,
            "wall_time_s": h.wall_time_s,
            "samples_per_s": h.train_samples / h.train_time_s if h.train_time_s else math.nan,
        }


def _tags(metrics: Mapping[str, float], split: str) -> dict[str, float]:
    """``{"train/acc_running": ...}`` from ``{"train_acc_running": ...}``: the metrics of ``split``."""
    return {key.replace("_", "/", 1): value for key, value in metrics.items() if key.startswith(split + "_")}


def _epoch_line(h: History, max_epochs: int) -> str:
    """The epoch's metrics under their epochs.csv names: the running train values, the validation's."""
    val = f", val_loss {h.val_loss:.4f}, val_acc {h.val_acc:.4f}" if math.isfinite(h.val_loss) else ""
    running = f"train_loss_running {h.train_loss_running:.4f}, train_acc_running {h.train_acc_running:.4f}"
    return f"epoch {h.epoch}/{max_epochs}: {running}{val}"
