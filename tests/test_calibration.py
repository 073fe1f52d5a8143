"""The expected calibration error (Guo et al. 2017) against a hand computation and a per-bin loop."""

import math

import numpy as np
import pytest
import torch

from netopt.calibration import BINS, calibration_bins, expected_calibration_error
from netopt.metrics import natural_direction, natural_range


def test_ece_matches_a_hand_computation():
    # confidences 0.9 (right), 0.9 (wrong), 0.65 (right), 0.55 (wrong); with 15 bins of width 1/15 the
    # two 0.9 share (13/15, 14/15]: 2/4 * |1/2 - 0.9| = 0.2; 0.65 alone: 1/4 * |1 - 0.65| = 0.0875;
    # 0.55 alone: 1/4 * |0 - 0.55| = 0.1375; ECE = 0.425
    probabilities = torch.tensor([[0.9, 0.1], [0.1, 0.9], [0.65, 0.35], [0.55, 0.45]])
    target = torch.tensor([0, 0, 0, 1])
    sums = calibration_bins(probabilities.log(), target)
    assert expected_calibration_error(sums) == pytest.approx(0.425, abs=1e-6)
    assert sums[0].tolist() == [0] * 8 + [1, 1] + [0] * 3 + [2, 0]


def test_ece_summed_over_batches_is_that_of_the_whole_split():
    generator = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(1000, 10, generator=generator)
    target = torch.randint(0, 10, (1000,), generator=generator)
    whole = expected_calibration_error(calibration_bins(logits, target))
    parts = sum(calibration_bins(x, y) for x, y in zip(logits.split(128), target.split(128), strict=True))
    assert expected_calibration_error(parts) == pytest.approx(whole, abs=1e-12)
    # a per-bin loop over the definition: sum_b |B_b|/n |acc(B_b) - conf(B_b)|
    probabilities = logits.softmax(dim=1).numpy().astype(np.float64)
    confidence, right = probabilities.max(axis=1), probabilities.argmax(axis=1) == target.numpy()
    edges = np.linspace(0, 1, BINS + 1)
    expected = 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            expected += inside.mean() * abs(right[inside].mean() - confidence[inside].mean())
    assert whole == pytest.approx(expected, abs=1e-6)


def test_a_confident_net_that_is_always_right_is_calibrated_and_ece_is_a_fraction_that_improves_down():
    logits = torch.tensor([[50.0, 0.0], [0.0, 50.0]])
    assert expected_calibration_error(calibration_bins(logits, torch.tensor([0, 1]))) == pytest.approx(0)
    assert math.isclose(expected_calibration_error(calibration_bins(logits, torch.tensor([1, 0]))), 1.0)
    assert natural_direction("test_ece") == "min" and natural_range("val_ece") == (0.0, 1.0)
    assert natural_direction("piece_count") is None  # "ece" as a word only
