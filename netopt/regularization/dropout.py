"""Dropout (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7): inverted dropout on the model's
hidden units, drop probability ``p`` (the chapter's keep rate is 1 - p; :mod:`netopt.nn.dropout`).

Every model owns its dropout layers and takes their probability as its keyword ``dropout``; this
regularizer hands ``p`` over (:meth:`Dropout.model_arguments`), so ``regularization=dropout`` switches
dropout on for any model. A recurrent model also takes how it draws its masks, ``rnn_dropout``:
``variational``, one mask per sequence (Gal & Ghahramani 2016, A Theoretically Grounded Application of
Dropout in Recurrent Neural Networks), or ``naive``, a new mask at every time step (Zaremba et al. 2014,
Recurrent Neural Network Regularization), both on the non-recurrent connections only.
"""

import inspect
from collections.abc import Callable
from typing import Any, Literal

from torch import nn

from netopt.checks import require, require_choice, require_fraction
from netopt.regularization.regularizer import Regularizer


class Dropout(Regularizer):
    """Dropout of probability ``p`` in the model's dropout layers, masks drawn per ``rnn_dropout``
    in a recurrent model."""

    def __init__(self, p: float = 0.5, rnn_dropout: Literal["variational", "naive"] = "variational") -> None:
        require_fraction(p=p)
        require_choice("rnn_dropout", rnn_dropout, ("variational", "naive"))
        self.p, self.rnn_dropout = p, rnn_dropout

    def model_arguments(self, model: Callable[..., nn.Module]) -> dict[str, Any]:
        """``dropout=p``, and ``rnn_dropout`` for a model that takes it (a recurrent one; ``naive``
        for another is refused)."""
        recurrent = "rnn_dropout" in inspect.signature(model).parameters
        allowed = "variational (naive needs a recurrent model: model=rnn)"
        require(recurrent or self.rnn_dropout == "variational", "rnn_dropout", allowed, self.rnn_dropout)
        return {"dropout": self.p, **({"rnn_dropout": self.rnn_dropout} if recurrent else {})}
