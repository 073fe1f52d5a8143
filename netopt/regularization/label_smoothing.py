"""Label smoothing (Szegedy et al. 2016, Rethinking the Inception Architecture for Computer Vision;
Qiu Xipeng, Neural Networks and Deep Learning, ch. 7): the model trains on the cross-entropy of the
smoothed target

    q = (1 - eps) * onehot(y) + eps / C

instead of the one-hot one (:func:`netopt.nn.loss.cross_entropy`, which states the chapter's own
convention too).
"""

from functools import partial

from netopt.checks import require_probability
from netopt.errors import ConfigValueError
from netopt.nn.loss import cross_entropy
from netopt.regularization.regularizer import DataLoss, Regularizer


class LabelSmoothing(Regularizer):
    """Cross-entropy of targets smoothed by ``eps``."""

    def __init__(self, eps: float = 0.1) -> None:
        require_probability(eps=eps)
        self.eps = eps

    def data_loss(self, loss: DataLoss) -> DataLoss:
        """The cross-entropy of the smoothed targets, in place of the plain cross-entropy ``loss``; refused
        for another loss (a model that reconstructs its input has no classes to smooth)."""
        if loss is not cross_entropy:
            raise ConfigValueError(
                "eps",
                self.eps,
                "left out: label smoothing needs class labels, and this model's loss is not "
                "the cross-entropy (regularization=none)",
            )
        return partial(cross_entropy, label_smoothing=self.eps)
