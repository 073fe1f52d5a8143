"""The training loop. It takes built components and knows nothing of which optimizer, schedule,
normalization or augmentation it runs.

Per iteration t: draw a batch, augment it, set every param group's lr to the schedule's value for
step t (keeping each group's ratio to the base lr), and let the optimizer step with a closure that
runs forward, loss, backward and clipping (an optimizer such as SAM calls it twice). Per epoch:
validate, early stopping, checkpoint. At the end: restore the best weights if early stopping kept
them, test. A non-finite loss stops the run with status ``diverged``.
"""

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from netopt import checkpoint
from netopt.console import REFRESH_S, progress_bar
from netopt.data import Data, Split, batches
from netopt.data.augment import preview
from netopt.data.batches import num_batches
from netopt.errors import Diverged
from netopt.record import Recorder
from netopt.regularization import EarlyStopping

log = logging.getLogger(__name__)

LossFn = Callable[[Tensor, Tensor], Tensor]
Clip = Callable[[Iterable[Tensor]], Tensor]
Augment = Callable[[Tensor, torch.Generator], Tensor]
Penalty = Callable[[], dict[str, Tensor]]


@dataclass
class History:
    """Where the run stands; saved in every checkpoint so a resumed run continues exactly."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken; train scalars are logged at the 0-based step t, epoch ones at
    # the epoch's last step, so a resumed run purges exactly what it redoes
    train_loss: float = math.nan  # mean over the last epoch
    val_loss: float = math.nan
    val_acc: float = math.nan
    best_val_acc: float = -math.inf
    best_epoch: int = 0
    train_samples: int = 0
    train_time_s: float = 0.0
    wall_time_s: float = 0.0


@dataclass
class Trainer:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    lr_at: Callable[[int], float]
    base_lr: float
    clip: Clip
    augment: Augment
    data: Data
    recorder: Recorder
    checkpoint_path: Path
    max_epochs: int
    batch_size: int
    eval_batch_size: int
    seed: int = 0
    limit_batches: int | None = None
    progress: bool = True
    loss_fn: LossFn = F.cross_entropy
    penalty: Penalty = dict  # named terms added to the loss, each logged as train/<name>
    early_stopping: EarlyStopping = field(default_factory=EarlyStopping)  # off by default
    extra_state: Callable[[], dict[str, Any]] | None = None  # more to checkpoint (e.g. preprocessing)

    def __post_init__(self) -> None:
        device = self.data.train.x.device
        self.history = History()
        self.order = torch.Generator().manual_seed(self.seed)  # the data order
        self.noise = torch.Generator(device).manual_seed(self.seed + 1)  # augmentation draws
        self.params = [p for group in self.optimizer.param_groups for p in group["params"]]
        for group in self.optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.steps_per_epoch = num_batches(len(self.data.train), self.batch_size, self.limit_batches)

    # --- one iteration -------------------------------------------------------------------------
    def set_lr(self, t: int) -> float:
        factor = self.lr_at(t) / self.base_lr if self.base_lr else 0.0
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor
        return self.optimizer.param_groups[0]["lr"]

    def train_step(self, x: Tensor, y: Tensor) -> dict[str, float]:
        """One optimizer step; the train scalars to log (data loss, gradient norm, each penalty)."""
        measured: list[dict[str, Tensor]] = []

        def closure() -> Tensor:
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model(x), y)
            penalties = self.penalty()
            sum(penalties.values(), loss).backward()
            measured.append({"grad_norm": self.clip(self.params), **penalties})
            return loss

        loss = self.optimizer.step(closure)
        names = ["train/loss", *(f"train/{name}" for name in measured[0])]
        values = torch.stack([loss.detach(), *measured[0].values()]).tolist()  # the step's one sync
        if not math.isfinite(values[0]):
            raise Diverged(f"the training loss became {values[0]} at step {self.history.step}")
        return dict(zip(names, values, strict=True))

    # --- epochs --------------------------------------------------------------------------------
    def train_epoch(self, bar: Any, task: Any) -> None:
        h = self.history
        self.model.train()
        total_loss, seen, start = 0.0, 0, time.perf_counter()
        shown = start  # when the bar was last updated
        train = batches(self.data.train.x, self.data.train.y, self.batch_size, self.order, self.limit_batches)
        for i, (x, y) in enumerate(train, 1):
            x = self.augment(x, self.noise)
            lr = self.set_lr(h.step)
            scalars = self.train_step(x, y)
            scalars["train/lr"] = lr
            self.recorder.scalars(scalars, h.step)
            loss = scalars["train/loss"]
            h.step += 1
            total_loss += loss * len(y)
            seen += len(y)
            if self.progress and (
                (now := time.perf_counter()) - shown > REFRESH_S or i == self.steps_per_epoch
            ):
                bar.update(task, completed=i, loss=loss, lr=lr, speed=seen / (now - start))
                shown = now
        h.train_samples += seen
        h.train_time_s += time.perf_counter() - start
        h.train_loss = total_loss / max(seen, 1)

    @torch.no_grad()
    def evaluate(self, split: Split) -> tuple[float, float]:
        """Mean loss and accuracy over ``split`` in eval mode."""
        self.model.eval()
        loss_sum = torch.zeros((), device=split.x.device)
        correct = torch.zeros((), device=split.x.device, dtype=torch.long)
        count = 0
        for x, y in batches(split.x, split.y, self.eval_batch_size, limit=self.limit_batches):
            logits = self.model(x)
            loss_sum += F.cross_entropy(logits, y, reduction="sum")
            correct += (logits.argmax(dim=1) == y).sum()
            count += len(y)
        return loss_sum.item() / max(count, 1), correct.item() / max(count, 1)

    def validate(self) -> None:
        h = self.history
        h.val_loss, h.val_acc = self.evaluate(self.data.val)
        if h.val_acc > h.best_val_acc:
            h.best_val_acc, h.best_epoch = h.val_acc, h.epoch
        self.recorder.scalars({"val/loss": h.val_loss, "val/acc": h.val_acc}, h.step - 1)
        self.early_stopping.step(getattr(h, self.early_stopping.monitor), h.epoch, self.model)
        if hasattr(self.lr_at, "observe"):  # a schedule driven by the validation metric (plateau)
            self.lr_at.observe(getattr(h, self.lr_at.monitor))

    def log_augmentation(self, n: int = 16) -> None:
        """A grid of training images over their augmented copies, at the start of a run."""
        generator = torch.Generator(self.data.train.x.device).manual_seed(self.seed)
        self.recorder.image("augmentation/samples", preview(self.data.train.x, self.augment, generator, n), 0)

    # --- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        rng = {
            "torch": torch.get_rng_state(),
            "order": self.order.get_state(),
            "noise": self.noise.get_state(),
        }
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "history": asdict(self.history),
            "early_stopping": self.early_stopping.state_dict(),
            "schedule": self.lr_at.state_dict() if hasattr(self.lr_at, "state_dict") else {},
            "rng": rng,
            **(self.extra_state() if self.extra_state else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.history = History(**state["history"])
        self.early_stopping.load_state_dict(state["early_stopping"])
        if hasattr(self.lr_at, "load_state_dict"):
            self.lr_at.load_state_dict(state["schedule"])
        torch.set_rng_state(state["rng"]["torch"])
        self.order.set_state(state["rng"]["order"])
        self.noise.set_state(state["rng"]["noise"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])

    # --- the whole run -------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train up to ``max_epochs`` (from where a resumed run stopped), then test; the final metrics."""
        h, stopper = self.history, self.early_stopping
        start, status = time.perf_counter(), "completed"
        if h.step == 0:
            self.log_augmentation()
        try:
            with progress_bar(self.progress) as bar:
                task = bar.add_task("", total=self.steps_per_epoch, loss=math.nan, lr=math.nan, speed=0.0)
                while h.epoch < self.max_epochs and stopper.stopped_epoch is None:
                    bar.reset(task, description=f"epoch {h.epoch + 1}/{self.max_epochs}")
                    self.train_epoch(bar, task)
                    h.epoch += 1
                    self.validate()
                    h.wall_time_s += time.perf_counter() - start
                    start = time.perf_counter()
                    self.recorder.flush()
                    checkpoint.save(self.state_dict(), self.checkpoint_path)
                    log.info(
                        "epoch %d/%d: train loss %.4f, val loss %.4f, val acc %.4f",
                        h.epoch,
                        self.max_epochs,
                        h.train_loss,
                        h.val_loss,
                        h.val_acc,
                    )
            if stopper.stopped_epoch is not None:
                log.info(
                    "early stopping at epoch %d: no better %s since epoch %d",
                    stopper.stopped_epoch,
                    stopper.monitor,
                    stopper.best_epoch,
                )
            if stopper.enabled and stopper.restore(self.model):
                log.info("restored the weights of epoch %d for testing", stopper.best_epoch)
            train_acc = self.evaluate(self.data.train)[1]  # eval mode, no augmentation: the gap to test
            test_loss, test_acc = self.evaluate(self.data.test)
            self.recorder.scalars({"test/loss": test_loss, "test/acc": test_acc}, h.step - 1)
        except Diverged as error:
            log.error("diverged: %s", error)
            status, train_acc, test_loss, test_acc = "diverged", math.nan, math.nan, math.nan
        h.wall_time_s += time.perf_counter() - start
        return {
            "status": status,
            "train_loss": h.train_loss,
            "train_acc": train_acc,
            "val_loss": h.val_loss,
            "val_acc": h.val_acc,
            "best_val_acc": h.best_val_acc if h.epoch else math.nan,
            "best_epoch": h.best_epoch,
            "test_loss": test_loss,
            "test_acc": test_acc,
            "epochs": h.epoch,
            "stopped_epoch": stopper.stopped_epoch,
            "restored_epoch": stopper.best_epoch if stopper.best_state is not None else None,
            "steps": h.step,
            "wall_time_s": h.wall_time_s,
            "samples_per_s": h.train_samples / h.train_time_s if h.train_time_s else math.nan,
        }
