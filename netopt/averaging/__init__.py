"""Weights to evaluate apart from the weights being trained: an averager's (EMA, SWA) or an
optimizer's own (Schedule-Free's x), behind one protocol, :class:`EvaluationWeights`.

The loop puts the evaluation weights into the model before every evaluation (validation, the probes,
the final test) and the checkpoint, recomputes the batch-norm statistics for them
(:func:`recompute_batch_norm`), and puts the training weights back before training on. The averagers
are the options of the ``averaging`` config group.
"""

from netopt.averaging.average import EMA, SWA, WeightAverage, no_averaging
from netopt.averaging.weights import EvaluationWeights, evaluation_weights, recompute_batch_norm

__all__ = [
    "EMA",
    "SWA",
    "EvaluationWeights",
    "WeightAverage",
    "evaluation_weights",
    "no_averaging",
    "recompute_batch_norm",
]
