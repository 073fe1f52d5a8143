"""Weight averaging (the ``averaging`` config group): evaluate an average of the weights the
optimizer visits instead of its last iterate, an exponential moving average (:class:`EMA`) or the
equal-weight average of stochastic weight averaging (:class:`SWA`)."""

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from netopt.checks import require, require_count, require_fraction, require_positive
from netopt.probes.base import Probe
from netopt.schedules import Schedule


def no_averaging(model: nn.Module, steps_per_epoch: int, epochs: int) -> None:
    """No averaging: the model is evaluated with the weights it trains (``averaging=none``)."""
    return None


class WeightAverage(Probe):
    """An average of the parameters of ``model`` after its optimizer steps, updated by
    :meth:`on_step` (a :class:`netopt.probes.Probe`, so the loop calls it after every step and the
    checkpoint keeps its state), and its :class:`netopt.averaging.EvaluationWeights`: :meth:`eval`
    swaps the average into the model, :meth:`train` swaps the training weights back (exact copies).

    ``held`` is the set of weights not in the model: the average while training, the training weights
    while evaluating. Before the first update there is no average and the model is evaluated as
    trained. A subclass says when to update (:meth:`due`) and with which weight (:meth:`weight`).
    """

    def __init__(self, model: nn.Module) -> None:
        self.params = list(model.parameters())
        self.held: list[Tensor] | None = None
        self.n_averaged = 0  # updates of the average so far (torch's AveragedModel.n_averaged)
        self.swapped = False  # whether the model holds the average

    def due(self, step: int) -> bool:
        """Whether to update the average after the 0-based optimizer step ``step``."""
        return True

    def weight(self, n: int) -> float:
        """w of the update avg <- avg + w * (theta - avg), after ``n`` updates (n >= 1)."""
        raise NotImplementedError

    def lr_schedule(self, schedule: Schedule, lr: float) -> Schedule:
        """The run's schedule as this averaging changes it (default: unchanged); ``lr`` is the base
        lr of the first param group, to which the schedule's factors apply."""
        return schedule

    @torch.no_grad()
    def on_step(self, step: int) -> None:
        if not self.due(step):
            return
        params = [p.detach() for p in self.params]
        if self.held is None:
            self.held = [p.clone() for p in params]  # the first update is a copy, as torch's
        else:
            self.held = self._on_device(self.held)
            torch._foreach_lerp_(self.held, params, self.weight(self.n_averaged))
        self.n_averaged += 1

    def _on_device(self, tensors: list[Tensor]) -> list[Tensor]:
        """``tensors`` (a checkpoint's, read on the CPU) on the devices of the parameters."""
        return [t.to(p.device, p.dtype) for t, p in zip(tensors, self.params, strict=True)]

    @torch.no_grad()
    def _swap(self, into_model: bool) -> None:
        if self.swapped == into_model or self.held is None:
            return
        held = self._on_device(self.held)
        self.held = [p.detach().clone() for p in self.params]
        torch._foreach_copy_([p.detach() for p in self.params], held)
        self.swapped = into_model

    def eval(self) -> None:
        """The average into the model (nothing before the first update)."""
        self._swap(True)

    def train(self) -> None:
        """The training weights back into the model."""
        self._swap(False)

    def state_dict(self) -> dict[str, Any]:
        return {"n_averaged": self.n_averaged, "held": self.held, "swapped": self.swapped}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.n_averaged, self.held, self.swapped = state["n_averaged"], state["held"], state["swapped"]


class EMA(WeightAverage):
    r"""Exponential moving average of the weights (``averaging=ema``; Polyak & Juditsky 1992 averaging
    with exponential forgetting, as in Tan & Le 2019, "EfficientNet", and airbench)::

        avg_1 = theta_1 ;  avg_n = d_n * avg_{n-1} + (1 - d_n) * theta_n,
        d_n = min(decay, (1 + n) / (warmup + n))   (d_n = decay when ``warmup`` is None)

    after every optimizer step, n the updates before this one: the warm-up of the decay (TensorFlow's
    ``ExponentialMovingAverage`` with ``num_updates``) keeps the early average from being dominated
    by the initial weights. With a constant decay it is torch's ``AveragedModel`` with
    ``get_ema_multi_avg_fn(decay)``.
    """

    def __init__(
        self,
        model: nn.Module,
        steps_per_epoch: int,
        epochs: int,
        decay: float = 0.999,
        warmup: float | None = 10.0,
    ) -> None:
        require_fraction(decay=decay)
        require(warmup is None or warmup >= 1, "warmup", "at least 1, or null (no warm-up)", warmup)
        super().__init__(model)
        self.decay, self.warmup = decay, warmup

    def weight(self, n: int) -> float:
        decay = self.decay if self.warmup is None else min(self.decay, (1 + n) / (self.warmup + n))
        return 1 - decay


class SWA(WeightAverage):
    r"""Stochastic weight averaging (``averaging=swa``; Izmailov et al. 2018, "Averaging Weights Leads
    to Wider Optima and Better Generalization"): the equal-weight average of the weights every
    ``every`` steps after epoch ``start_epoch``::

        avg_n = avg_{n-1} + (theta_n - avg_{n-1}) / n

    (torch's ``AveragedModel`` with ``get_swa_multi_avg_fn``). ``start_epoch`` None: the last quarter
    of the run (epoch round(0.75 * epochs)); ``every`` None: one epoch. From the start on, the lr is
    ``swa_lr`` (None: the run's schedule goes on), constant, or with ``cyclic`` falling linearly in
    every cycle of ``every`` steps from the run's lr at the start, alpha_1, to alpha_2 = ``swa_lr``,
    the average taken at each cycle's end::

        alpha(i) = (1 - s(i)) * alpha_1 + s(i) * alpha_2,  s(i) = (((i - 1) mod every) + 1) / every

    i the step counted from the start (1, 2, ...). ``swa_lr`` is an lr as torch's ``SWALR`` takes it,
    of the first param group; the others keep their ratio to it.
    """

    def __init__(
        self,
        model: nn.Module,
        steps_per_epoch: int,
        epochs: int,
        start_epoch: int | None = None,
        every: int | None = None,
        swa_lr: float | None = None,
        cyclic: bool = False,
    ) -> None:
        start_epoch = round(0.75 * epochs) if start_epoch is None else start_epoch
        require_count(0, start_epoch=start_epoch)
        require(start_epoch < epochs, "start_epoch", f"below the run's {epochs} epochs", start_epoch)
        require_count(every=every)
        if swa_lr is not None:
            require_positive(swa_lr=swa_lr)
        require(not cyclic or swa_lr is not None, "cyclic", "used with a swa_lr", cyclic)
        super().__init__(model)
        self.start, self.every = start_epoch * steps_per_epoch, every or steps_per_epoch
        self.swa_lr, self.cyclic = swa_lr, cyclic

    def due(self, step: int) -> bool:
        i = step + 1 - self.start  # the steps taken since the start
        return i > 0 and i % self.every == 0

    def weight(self, n: int) -> float:
        return 1 / (n + 1)

    def lr_schedule(self, schedule: Schedule, lr: float) -> Schedule:
        """The run's schedule until the start, then ``swa_lr``, constant or cyclic."""
        if self.swa_lr is None:
            return schedule
        start, every, first, last, cyclic = (
            self.start,
            self.every,
            schedule(self.start),
            self.swa_lr / lr,
            self.cyclic,
        )

        def swa_schedule(t: int) -> float:
            if t < start:
                return schedule(t)
            s = ((t - start) % every + 1) / every if cyclic else 1.0
            return (1 - s) * first + s * last

        return swa_schedule
