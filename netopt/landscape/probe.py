"""The landscape instruments in a run: sharpness and the Hessian's trace every few epochs.

:class:`SharpnessProbe` is a :class:`netopt.watchers.Watcher`: after every ``every``-th validation it
measures, on a fixed subset of the training data and in evaluation mode, the top eigenvalue of the
Hessian of the training loss (sharpness) and its trace (Hutchinson's estimator), and logs them as
``landscape/sharpness`` and ``landscape/trace`` (per layer too, as ``landscape/layer/<layer>``, when
``per_layer``); at the end of the run it measures them once more, after early stopping has put back
its best weights, for metrics.json. The chapter's flat and sharp minima (Qiu Xipeng, Neural Networks
and Deep Learning, ch. 7; Keskar et al. 2017, On Large-Batch Training for Deep Learning: Generalization
Gap and Sharp Minima) as numbers.
"""

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from netopt.data import Split, batches
from netopt.landscape.hessian import Batches, hessian_trace, layer_sharpness, top_hessian_eigenvalue
from netopt.run.record import Recorder
from netopt.watchers import Watcher


def fixed_batches(split: Split, samples: int = 1024, seed: int = 0, batch_size: int = 512) -> Batches:
    """A seeded subset of ``samples`` examples of ``split``, in batches: the same data at every measure."""
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:samples]
    subset = split.take(order.to(split.x.device))
    return list(batches(subset.x, subset.y, batch_size))


class SharpnessProbe(Watcher):
    """Sharpness and trace of ``model``'s loss on ``batches`` every ``every`` epochs (see the module)."""

    def __init__(
        self,
        model: nn.Module,
        batches: Batches,
        recorder: Recorder,
        every: int,
        per_layer: bool = False,
        seed: int = 0,
        probes: int = 20,
    ) -> None:
        self.model, self.batches, self.recorder = model, batches, recorder
        self.every, self.per_layer, self.seed, self.probes = every, per_layer, seed, probes

    def measure(self) -> dict[str, float]:
        """The top eigenvalue and the trace (and, per layer, the top eigenvalue of each layer's block)."""
        generator = lambda: torch.Generator().manual_seed(self.seed)  # noqa: E731 (the same draws each time)
        values = {
            "sharpness": top_hessian_eigenvalue(
                self.model, F.cross_entropy, self.batches, generator=generator()
            ).value,
            "hessian_trace": hessian_trace(
                self.model, F.cross_entropy, self.batches, probes=self.probes, generator=generator()
            ).mean,
        }
        if self.per_layer:
            layers = layer_sharpness(self.model, F.cross_entropy, self.batches, generator=generator())
            values |= {f"layer/{name}": value for name, value in layers.items()}
        return values

    def log(self, values: Mapping[str, float], step: int) -> None:
        tags = {"sharpness": "landscape/sharpness", "hessian_trace": "landscape/trace"}
        self.recorder.scalars({tags.get(k, f"landscape/{k}"): v for k, v in values.items()}, step)

    def on_validation(self, metrics: Mapping[str, float]) -> bool:
        if int(metrics["epoch"]) % self.every == 0:
            self.log(self.measure(), int(metrics["step"]) - 1)
        return False

    def on_fit_end(self) -> dict[str, Any]:
        values = self.measure()
        return {"sharpness": values["sharpness"], "hessian_trace": values["hessian_trace"]}
