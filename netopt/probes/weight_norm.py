"""The global norm of the parameters, ||theta||_2 = sqrt(sum_i theta_i^2) over every parameter of the
model, after every validation and at the end (``probes=weight_norm``): how far the weights grow, which
weight decay (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7) holds back.

Logged as ``weights/norm``, added to each validation's metrics and to metrics.json as ``weight_norm``
(no direction of its own: monitor it with an explicit ``mode``).
"""

from collections.abc import Mapping
from typing import Any

from netopt.optim.clip import global_norm
from netopt.probes.base import Direction, Probe, ProbeContext


class WeightNorm(Probe):
    """||theta||_2 of the context's model after every validation and at the end."""

    def __init__(self, context: ProbeContext) -> None:
        self.context = context

    def metrics(self) -> dict[str, Direction]:
        return {"weight_norm": None}

    def final_metrics(self) -> dict[str, Direction]:
        return self.metrics()

    def measure(self) -> float:
        return global_norm([p.detach() for p in self.context.model.parameters()]).item()

    def on_validation(self, metrics: Mapping[str, float]) -> dict[str, float]:
        norm = self.measure()
        self.context.recorder.scalars({"weights/norm": norm}, int(metrics["step"]) - 1)
        return {"weight_norm": norm}

    def on_fit_end(self) -> dict[str, Any]:
        return {"weight_norm": self.measure()}
