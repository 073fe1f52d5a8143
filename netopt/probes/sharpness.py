"""The landscape instruments in a run: sharpness and the Hessian's trace every few epochs
(``probes=sharpness``).

After every ``every``-th validation :class:`Sharpness` measures, on a fixed subset of the training data
(``samples`` examples seeded by the run's seed) and in evaluation mode, the top eigenvalue of the
Hessian of the training loss (sharpness, by power iteration) and its trace (Hutchinson's estimator
with ``trace_probes`` Rademacher vectors), the methods of :mod:`netopt.landscape.hessian`. The loss is
the data loss of the model's task (:mod:`netopt.tasks`, no regularization): a classifier's
cross-entropy of the labels, an autoencoder's mean squared error of its reconstruction of the inputs.
It logs them as ``landscape/sharpness`` and ``landscape/trace`` (per layer too, as
``landscape/layer/<layer>``, when ``per_layer``) and adds ``sharpness`` and ``hessian_trace`` to that
validation's metrics (so early stopping can monitor them); at the end of the run it measures them once
more, after early stopping has put back its best weights, for metrics.json. The chapter's flat and
sharp minima (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7; Keskar et al. 2017, On Large-Batch
Training for Deep Learning: Generalization Gap and Sharp Minima) as numbers.

Runs that differ in batch size take different numbers of steps in the same epochs, and the
cross-entropy Hessian shrinks as the loss goes to 0, so sharpness at the end compares runs at
different points of training. Two more measures take each run at a common point: with ``at_step`` S,
``sharpness_at_step``, measured at the first validation after the run has taken S steps (the same
number of updates); with ``at_loss`` L, ``sharpness_at_loss``, measured at the first validation whose
running train loss is at most L (the same fit), and ``steps_at_loss``, the steps it took to get there.
A run that never gets there has no such metric.
"""

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import torch

from netopt.checks import require_count, require_positive
from netopt.landscape.hessian import Batches, hessian_trace, layer_sharpness, top_hessian_eigenvalue
from netopt.probes.base import Direction, Probe, ProbeContext


class Sharpness(Probe):
    """Sharpness and trace of the model's training loss every ``every`` epochs and at the end."""

    def __init__(
        self,
        context: ProbeContext,
        every: int = 1,
        per_layer: bool = False,
        samples: int = 1024,
        trace_probes: int = 20,
        at_step: int | None = None,
        at_loss: float | None = None,
    ) -> None:
        require_count(every=every, samples=samples, trace_probes=trace_probes, at_step=at_step)
        if at_loss is not None:
            require_positive(at_loss=at_loss)
        self.context, self.every, self.per_layer = context, every, per_layer
        self.samples, self.trace_probes = samples, trace_probes
        self.at_step, self.at_loss = at_step, at_loss
        self.reached: dict[str, float] = {}  # sharpness_at_step, sharpness_at_loss, steps_at_loss

    def metrics(self) -> dict[str, Direction]:
        return {"sharpness": "min", "hessian_trace": "min"}

    def final_metrics(self) -> dict[str, Direction]:
        final = self.metrics()
        if self.at_step is not None:
            final["sharpness_at_step"] = "min"
        if self.at_loss is not None:
            final |= {"sharpness_at_loss": "min", "steps_at_loss": "min"}
        return final

    @cached_property
    def batches(self) -> Batches:
        return self.context.target_batches(self.samples)

    def measure(self) -> dict[str, float]:
        """The top eigenvalue and the trace (and, per layer, the top eigenvalue of each layer's block)."""
        model, seed, loss = self.context.model, self.context.seed, self.context.task.loss
        generator = lambda: torch.Generator().manual_seed(seed)  # noqa: E731 (the same draws each time)
        values = {
            "sharpness": top_hessian_eigenvalue(model, loss, self.batches, generator=generator()).value,
            "hessian_trace": hessian_trace(
                model, loss, self.batches, probes=self.trace_probes, generator=generator()
            ).mean,
        }
        if self.per_layer:
            layers = layer_sharpness(model, loss, self.batches, generator=generator())
            values |= {f"layer/{name}": value for name, value in layers.items()}
        return values

    def on_validation(self, metrics: Mapping[str, float]) -> dict[str, float]:
        step, loss = int(metrics["step"]), metrics["train_loss_running"]
        due = int(metrics["epoch"]) % self.every == 0
        at_step = (
            "sharpness_at_step" not in self.reached and self.at_step is not None and step >= self.at_step
        )
        at_loss = (
            "sharpness_at_loss" not in self.reached and self.at_loss is not None and loss <= self.at_loss
        )
        if not (due or at_step or at_loss):
            return {}
        values = self.measure()  # once for all three
        if at_step:
            self.reached["sharpness_at_step"] = values["sharpness"]
        if at_loss:
            self.reached |= {"sharpness_at_loss": values["sharpness"], "steps_at_loss": step}
        if not due:
            return {}
        tags = {"sharpness": "landscape/sharpness", "hessian_trace": "landscape/trace"}
        self.context.recorder.scalars(
            {tags.get(k, f"landscape/{k}"): v for k, v in values.items()}, int(metrics["step"]) - 1
        )
        return {name: values[name] for name in tags}

    def on_fit_end(self) -> dict[str, Any]:
        values = self.measure()
        return {"sharpness": values["sharpness"], "hessian_trace": values["hessian_trace"], **self.reached}

    def state_dict(self) -> dict[str, Any]:
        return {"reached": dict(self.reached)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`: what a resumed run has measured at its common points."""
        self.reached = dict(state["reached"])
