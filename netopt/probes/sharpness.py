"""The landscape instruments in a run: sharpness and the Hessian's trace every few epochs
(``probes=sharpness``).

After every ``every``-th validation :class:`Sharpness` measures, on a fixed subset of the training data
(``samples`` examples seeded by the run's seed) and in evaluation mode, the top eigenvalue of the
Hessian of the training loss (sharpness, by power iteration) and its trace (Hutchinson's estimator
with ``trace_probes`` Rademacher vectors), the methods of :mod:`netopt.landscape.hessian`. It logs them
as ``landscape/sharpness`` and ``landscape/trace`` (per layer too, as ``landscape/layer/<layer>``, when
``per_layer``) and adds ``sharpness`` and ``hessian_trace`` to that validation's metrics (so early
stopping can monitor them); at the end of the run it measures them once more, after early stopping
has put back its best weights, for metrics.json. The chapter's flat and sharp minima (Qiu Xipeng,
Neural Networks and Deep Learning, ch. 7; Keskar et al. 2017, On Large-Batch Training for Deep
Learning: Generalization Gap and Sharp Minima) as numbers.
"""

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import torch
import torch.nn.functional as F

from netopt.checks import require_count
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
    ) -> None:
        require_count(every=every, samples=samples, trace_probes=trace_probes)
        self.context, self.every, self.per_layer = context, every, per_layer
        self.samples, self.trace_probes = samples, trace_probes

    def metrics(self) -> dict[str, Direction]:
        return {"sharpness": "min", "hessian_trace": "min"}

    def final_metrics(self) -> dict[str, Direction]:
        return self.metrics()

    @cached_property
    def batches(self) -> Batches:
        return self.context.fixed_batches(self.samples)

    def measure(self) -> dict[str, float]:
        """The top eigenvalue and the trace (and, per layer, the top eigenvalue of each layer's block)."""
        model, seed = self.context.model, self.context.seed
        generator = lambda: torch.Generator().manual_seed(seed)  # noqa: E731 (the same draws each time)
        values = {
            "sharpness": top_hessian_eigenvalue(
                model, F.cross_entropy, self.batches, generator=generator()
            ).value,
            "hessian_trace": hessian_trace(
                model, F.cross_entropy, self.batches, probes=self.trace_probes, generator=generator()
            ).mean,
        }
        if self.per_layer:
            layers = layer_sharpness(model, F.cross_entropy, self.batches, generator=generator())
            values |= {f"layer/{name}": value for name, value in layers.items()}
        return values

    def on_validation(self, metrics: Mapping[str, float]) -> dict[str, float]:
        if int(metrics["epoch"]) % self.every:
            return {}
        values = self.measure()
        tags = {"sharpness": "landscape/sharpness", "hessian_trace": "landscape/trace"}
        self.context.recorder.scalars(
            {tags.get(k, f"landscape/{k}"): v for k, v in values.items()}, int(metrics["step"]) - 1
        )
        return {name: values[name] for name in tags}

    def on_fit_end(self) -> dict[str, Any]:
        values = self.measure()
        return {"sharpness": values["sharpness"], "hessian_trace": values["hessian_trace"]}
