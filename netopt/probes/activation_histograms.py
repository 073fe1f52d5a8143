"""The distribution of each hidden layer's activations at initialization and after training
(``probes=activation_histograms``), the figure of Glorot & Bengio 2010 (Understanding the Difficulty
of Training Deep Feedforward Neural Networks; Qiu Xipeng, Neural Networks and Deep Learning, ch. 7).

For every activation module l of the model it counts the outputs a of the layer in ``bins`` equal
bins of the activation's range [lo, hi]:

    counts_l[k] = #{a : lo + k w <= clamp(a, lo, hi) < lo + (k + 1) w},   w = (hi - lo) / bins

so a value beyond the range counts in an end bin. The range is the activation's own where it is
bounded (tanh: [-1, 1], sigmoid: [0, 1]), else ``span`` (ReLU, GELU, ...). Two histograms per layer
go to TensorBoard as ``act_hist/<layer>`` (its histograms dashboard): at step 0, of the first
training batch before any update (the initialization), and at the last step, of a fixed subset of
the training split through the trained model in evaluation mode. A signal that vanishes shows as
every deep layer's mass in the bin at 0; a saturating one as mass piled at +-1. metrics.json gets
``end_bin_share``: the share of the bounded activations' outputs in their end bins after training.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from netopt.checks import require, require_count
from netopt.models import ACTIVATIONS
from netopt.probes.base import Direction, Probe, ProbeContext
from netopt.probes.layer_stats import layer_name

#: The output range of the bounded activations.
BOUNDED: dict[type[nn.Module], tuple[float, float]] = {nn.Tanh: (-1.0, 1.0), nn.Sigmoid: (0.0, 1.0)}
_ACTIVATION = tuple(ACTIVATIONS.values())


class ActivationHistograms(Probe):
    """Log a histogram of every activation layer's output at step 0 and after the last step."""

    def __init__(self, context: ProbeContext, bins: int = 50, span: Sequence[float] = (-1.0, 4.0)) -> None:
        require_count(bins=bins)
        low, high = (float(v) for v in span) if len(span) == 2 else (0.0, 0.0)
        require(
            low < high, "span", "[low, high] with low < high (the range of an unbounded activation)", span
        )
        self.context, self.bins = context, bins
        watched = {
            layer_name(name, module): module
            for name, module in context.model.named_modules()
            if isinstance(module, _ACTIVATION)
        }
        self.ranges = {name: BOUNDED.get(type(module), (low, high)) for name, module in watched.items()}
        self.bounded = {name for name, module in watched.items() if type(module) in BOUNDED}
        self.handles = [module.register_forward_hook(self._hook(name)) for name, module in watched.items()]
        self.taking: str | None = "init"  # what the coming forward passes count: step 0's, the end's
        self.counts: dict[str, Tensor] = {}
        self.step = 0

    def _hook(self, name: str) -> Callable[[nn.Module, tuple[Tensor, ...], Tensor], None]:
        def record(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            if (self.taking == "init" and module.training) or self.taking == "end":
                low, high = self.ranges[name]
                x = output.detach().float().clamp(low, high)
                counts = torch.histc(x, self.bins, min=low, max=high)
                self.counts[name] = self.counts[name] + counts if name in self.counts else counts

        return record

    def on_step(self, step: int) -> None:
        """After step ``step``: write step 0's histograms (its forward pass saw the initial weights)."""
        if self.taking == "init":
            self._write(step)
        self.taking, self.step = None, step + 1

    def final_metrics(self) -> dict[str, Direction]:
        return {"end_bin_share": None}

    def on_fit_end(self) -> dict[str, Any]:
        """The trained model's histograms on a fixed subset of the training split; ``end_bin_share``,
        the share of the bounded activations' (tanh, sigmoid) outputs in the two end bins of their
        range, where the trained units saturate (none without a bounded activation)."""
        model = self.context.model
        was_training = model.training
        model.eval()
        self.taking = "end"
        with torch.no_grad():
            for x, _ in self.context.fixed_batches():
                model(x)
        self.taking = None
        model.train(was_training)
        bounded = [c for name, c in self.counts.items() if name in self.bounded]
        ends = sum(float(c[0] + c[-1]) for c in bounded) / max(sum(float(c.sum()) for c in bounded), 1.0)
        self._write(self.step)
        return {"end_bin_share": ends} if bounded else {}

    def _write(self, step: int) -> None:
        for name, counts in self.counts.items():
            low, high = self.ranges[name]
            edges = torch.linspace(low, high, self.bins + 1).tolist()
            self.context.recorder.histogram(f"act_hist/{name}", edges, counts.tolist(), step)
        self.counts.clear()

    def state_dict(self) -> dict[str, Any]:
        return {"taking": self.taking, "step": self.step}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`: a resumed run does not count step 0 again."""
        self.taking, self.step = state["taking"], state["step"]

    def close(self) -> None:
        """Remove the hooks."""
        for handle in self.handles:
            handle.remove()
