"""The LSTM's net input over time: how steady its scale stays from step to step.

In a plain recurrent network the net input of the recurrent layer drifts, growing or shrinking over
the time steps, which makes gradients explode or vanish; layer normalization at every step keeps it in
place (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7; Ba et al. 2016, Layer Normalization).
:func:`net_input_std` measures it: for every cell (layer l) of :class:`netopt.models.rnn.RNN` and
every time step t, the standard deviation over the batch and the 4H gate units of

    n_t = norm(z_t),   z_t = W x_t + U h_{t-1} + b,

taken *after* the normalization: n_t is what the gates' sigmoid and tanh receive, so its scale is
what decides whether they saturate (with ``norm=none``, n_t = z_t). The raw z_t is measured too, for
contrast: normalizing what the gates see does not stop the raw net input from drifting. The summary
is the coefficient of variation over time, cv = std_t(s_t) / mean_t(s_t) of the per-step stds s_t
(population std), the mean over the layers: 0 for a scale that never changes.

:class:`NetInputProbe` measures a fixed batch in evaluation mode after every validation (TensorBoard
``rnn/preact_std/layer<l>/t<t>``, one curve over training per step) and once at the end:
``preact_std_cv``, ``preact_std_mean`` (the mean per-step std) and ``preact_std_cv_raw`` (the cv of
z_t) in metrics.json.
"""

from collections.abc import Mapping
from typing import Any, cast

import torch
from torch import Tensor

from netopt.models.rnn import RNN, LSTMCell
from netopt.run.record import Recorder
from netopt.watchers import Watcher


@torch.no_grad()
def net_input_std(model: RNN, x: Tensor) -> tuple[Tensor, Tensor]:
    """The std of each cell's net input at every step after the norm (n_t) and before it (z_t), each of
    shape (layers, T), on the input ``x`` (N, C, H, W) read in evaluation mode (the model's mode is
    restored afterwards)."""
    norms = [cast(LSTMCell, cell).net_input_norm for cell in model.cells]
    stds: list[list[Tensor]] = [[] for _ in norms]  # per layer, per step: (std of n_t, std of z_t)
    hooks = [
        norm.register_forward_hook(
            lambda module, inputs, output, steps=steps: steps.append(
                torch.stack([output.std(correction=0), inputs[0].std(correction=0)])
            )
        )
        for norm, steps in zip(norms, stds, strict=True)
    ]
    training = model.training
    try:
        model.eval()
        model(x)
    finally:
        model.train(training)
        for hook in hooks:
            hook.remove()
    normalized, raw = torch.stack([torch.stack(steps) for steps in stds]).unbind(-1)
    return normalized, raw


def coefficient_of_variation(stds: Tensor) -> float:
    """std_t / mean_t of each row of ``stds`` (layers, T), averaged over the rows."""
    return (stds.std(dim=1, correction=0) / stds.mean(dim=1)).mean().item()


class NetInputProbe(Watcher):
    """The net input's per-step std on the fixed batch ``x`` after every validation and at the end."""

    def __init__(self, model: RNN, x: Tensor, recorder: Recorder) -> None:
        self.model, self.x, self.recorder = model, x, recorder

    def on_validation(self, metrics: Mapping[str, float]) -> bool:
        stds = net_input_std(self.model, self.x)[0].tolist()
        tags = {
            f"rnn/preact_std/layer{layer}/t{t:02d}": std
            for layer, steps in enumerate(stds)
            for t, std in enumerate(steps)
        }
        self.recorder.scalars(tags, int(metrics["step"]) - 1)
        return False

    def on_fit_end(self) -> dict[str, Any]:
        normalized, raw = net_input_std(self.model, self.x)
        return {
            "preact_std_cv": coefficient_of_variation(normalized),
            "preact_std_mean": normalized.mean().item(),
            "preact_std_cv_raw": coefficient_of_variation(raw),
        }
