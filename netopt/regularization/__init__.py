"""Regularization: a list of small components behind one protocol (Qiu Xipeng, Neural Networks and
Deep Learning, ch. 7).

Each regularizer is one module: the L1 and L2 penalties (:mod:`.l1`, :mod:`.l2`), dropout on the
model's units (:mod:`.dropout`), DropConnect on its weights (:mod:`.dropconnect`) and label smoothing
of its targets (:mod:`.label_smoothing`). Each is a :class:`Regularizer`, whose every hook does nothing
unless the regularizer overrides it; the ``regularization`` config group composes any of them by key
(``regularization=[l2,dropout]``), and the runner sees them as one :class:`Regularizers`. Weight decay
is the optimizers' ``weight_decay`` instead: coupled, i.e. the L2 penalty, in SGD and Adam; decoupled
in AdamW. Early stopping, which controls training rather than the model, is
:mod:`netopt.early_stopping`.
"""

from netopt.regularization.composite import MOVED, Regularizers
from netopt.regularization.regularizer import Regularizer, penalized_parameters

__all__ = ["MOVED", "Regularizer", "Regularizers", "penalized_parameters"]
