"""Expected calibration error (Guo et al. 2017, "On Calibration of Modern Neural Networks").

The predictions are put into M = 15 equal-width bins by their confidence (the top softmax
probability): bin b holds those with confidence in ((b-1)/M, b/M]. With acc(B_b) the accuracy and
conf(B_b) the mean confidence of bin b, over n predictions,

    ECE = sum_b |B_b| / n * |acc(B_b) - conf(B_b)| = sum_b |correct_b - confidence_b| / n,

where correct_b counts the right predictions of bin b and confidence_b sums its confidences. A net
is calibrated (ECE 0) when it is right as often as it is confident; label smoothing, a regularizer
of the chapter (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7), lowers the confidence of a
net trained to overconfidence. The bins' sums add over batches (and processes), so the ECE of a
split is counted batch by batch and computed once.
"""

import torch
from torch import Tensor

#: The number of equal-width confidence bins (Guo et al. 2017).
BINS = 15


def calibration_bins(logits: Tensor, target: Tensor, bins: int = BINS) -> Tensor:
    """The sums of one batch, shape (3, bins) in float64: per confidence bin, the number of
    predictions, the number of right ones, the sum of their confidences."""
    confidence, predicted = logits.detach().float().softmax(dim=1).max(dim=1)
    index = (confidence * bins).ceil().long().clamp(1, bins) - 1  # bin b holds ((b-1)/M, b/M]
    values = torch.stack([torch.ones_like(confidence), (predicted == target).float(), confidence])
    return torch.zeros(3, bins, dtype=torch.float64, device=logits.device).index_add_(
        1, index, values.double()
    )


def expected_calibration_error(sums: Tensor) -> float:
    """ECE from the summed bins of :func:`calibration_bins`: sum_b |correct_b - confidence_b| / n."""
    count, correct, confidence = sums
    return float((correct - confidence).abs().sum() / count.sum())
