"""A recurrent classifier that reads an image row by row with a from-scratch LSTM.

An image (C, H, W) is a sequence of H steps of C * W features. The LSTM cell computes, at step t,

    z_t = W x_t + U h_{t-1} + b              (net input of the four gates i, f, g, o)
    z_t <- norm(z_t)                          (the model's normalization after the affine map)
    c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
    h_t = sigmoid(o) * tanh(c_t)

so ``norm=layer`` is the chapter's (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7) layer normalization
in RNNs: the net input is normalized at every time step with the statistics of its own sample. (Ba et al.'s
LN-LSTM normalizes W x_t and U h_{t-1} separately and c_t too. Batch norm here normalizes each step with that
step's batch statistics; its gain, shift and running estimates are shared by all steps, the estimates updated
at every step.) ``norm=weight`` reparametrizes W and U and ``dropconnect`` masks them; both are computed once
per forward pass (``parametrize.cached``), not at every step. Dropout is drawn in one of two ways:
``variational``, the chapter's variational dropout (Gal & Ghahramani 2016, A Theoretically Grounded
Application of Dropout in Recurrent Neural Networks): one mask per sequence, the same at every step, on the
non-recurrent connections (each layer's input and the classifier's input) and, with a mask of its own, on
the recurrent ones, U (h_{t-1} * m); or ``naive``, a new mask at every time step on the non-recurrent
connections only, never on h -> h (Zaremba et al. 2014, Recurrent Neural Network Regularization). The last
hidden state of the top layer feeds the linear classifier.
"""

import math
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from netopt.checks import require_choice, require_count
from netopt.models import Model
from netopt.nn.dropout import Dropout, VariationalDropout
from netopt.nn.norm import Normalization


class LSTMCell(nn.Module):
    """One LSTM step; the weights are torch.nn.LSTMCell's (``input.weight`` = weight_ih, ...)."""

    def __init__(self, input_size: int, hidden_size: int, norm: Normalization) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.input = norm.wrap(nn.Linear(input_size, 4 * hidden_size))
        self.recurrent = norm.wrap(nn.Linear(hidden_size, 4 * hidden_size, bias=False))
        self.net_input_norm = norm.after_affine(4 * hidden_size, spatial=False)

    def forward(
        self, input_term: Tensor, state: tuple[Tensor, Tensor], mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """One step from ``input_term`` = W x_t + b (precomputed for all steps) and state (h, c); the
        recurrent connections read h * ``mask`` when a dropout mask is given."""
        h, c = state
        recurrent = self.recurrent(h if mask is None else h * mask)
        i, f, g, o = self.net_input_norm(input_term + recurrent).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    def sequence(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Run over x (N, T, F) from a zero state, ``mask`` (N, H) on h at every step; the hidden
        states (N, T, H)."""
        input_terms = self.input(x)  # every step's W x_t + b in one matmul
        h = c = x.new_zeros(x.shape[0], self.hidden_size)
        outputs = []
        for t in range(x.shape[1]):
            h, c = self(input_terms[:, t], (h, c), mask)
            outputs.append(h)
        return torch.stack(outputs, dim=1)


class RNN(Model):
    """Row-by-row image classifier: ``layers`` stacked LSTM layers of ``hidden`` units, then a Linear.

    ``dropout`` is the drop probability on the non-recurrent connections, ``rnn_dropout`` how its
    masks are drawn (``variational`` or ``naive``); the dropout regularizer hands both over when chosen.
    """

    def __init__(
        self,
        in_shape: tuple[int, ...],
        num_classes: int,
        norm: Normalization,
        dropout: float = 0.0,
        rnn_dropout: Literal["variational", "naive"] = "variational",
        hidden: int = 128,
        layers: int = 1,
        activation: str = "tanh",
    ) -> None:
        super().__init__(activation, dropout)  # the init's gain; the cell's own nonlinearities are fixed
        require_count(hidden=hidden, layers=layers)
        require_choice("rnn_dropout", rnn_dropout, ("variational", "naive"))
        input_size = math.prod(in_shape) // in_shape[1]  # C * W features per row
        self.cells = nn.ModuleList(
            LSTMCell(input_size if layer == 0 else hidden, hidden, norm) for layer in range(layers)
        )
        naive = rnn_dropout == "naive"
        self.dropout = Dropout(dropout) if naive else VariationalDropout(dropout, batch_first=True)
        self.recurrent_dropout = None if naive else VariationalDropout(dropout, batch_first=True)
        self.output_norm = norm.after_activation(hidden, spatial=False)
        self.classifier = nn.Linear(hidden, num_classes)

    def init_arguments(self) -> dict[str, Any]:
        """Each LSTM weight stacks the four gates i, f, g, o: initialized as four matrices."""
        gated = {layer: 4 for cell in self.cells for layer in (cell.input, cell.recurrent)}
        return {**super().init_arguments(), "gates": gated}

    def forward(self, x: Tensor) -> Tensor:
        sequence = x.permute(0, 2, 1, 3).flatten(2)  # (N, C, H, W) -> (N, H, C * W)
        with parametrize.cached():  # weight norm and DropConnect once per pass, not once per step
            for cell in self.cells:
                assert isinstance(cell, LSTMCell)  # nn.ModuleList does not keep its item type
                sequence = cell.sequence(self.dropout(sequence), self._recurrent_mask(sequence, cell))
        return self.classifier(self.output_norm(self.dropout(sequence[:, -1:])).squeeze(1))

    def _recurrent_mask(self, sequence: Tensor, cell: LSTMCell) -> Tensor | None:
        """Variational dropout's mask (N, H) on the cell's h -> h connections, one per sequence (its
        dropout of ones); None when there is none to draw (naive dropout, p = 0, evaluation)."""
        dropout = self.recurrent_dropout
        if dropout is None or dropout.p == 0.0 or not dropout.training:
            return None
        return dropout(sequence.new_ones(sequence.shape[0], 1, cell.hidden_size)).squeeze(1)
