"""Ranking quality with answers worked by hand: Spearman with ties, pairwise accuracy with a tie."""
import math

import numpy as np
import pytest

from training.metrics import pairwise_accuracy, spearman


def test_spearman_with_ties_by_hand():
    # Average ranks (0-based): a -> 0, 1.5, 1.5, 3 and b -> 0, 1, 2, 3; centred: a -1.5, 0, 0, 1.5 and
    # b -1.5, -0.5, 0.5, 1.5. Sum of products 4.5; sums of squares 4.5 and 5: rho = 4.5 / sqrt(22.5) = sqrt(0.9).
    assert spearman([1.0, 2.0, 2.0, 4.0], [10.0, 20.0, 30.0, 40.0]) == pytest.approx(math.sqrt(0.9))
    # a = 5, 1, 1, 5: ranks 2.5, 0.5, 0.5, 2.5 -> centred 1, -1, -1, 1; b = 0, 36, 72, 108: centred -1.5, -0.5, 0.5, 1.5.
    # Products -1.5 + 0.5 - 0.5 + 1.5 = 0: no rank correlation.
    assert spearman([5.0, 1.0, 1.0, 5.0], [0.0, 36.0, 72.0, 108.0]) == pytest.approx(0.0)


def test_spearman_monotone_reversed_and_undefined():
    angles = np.array([0.0, 36.0, 72.0, 108.0])
    assert spearman(np.exp(angles / 50), angles) == pytest.approx(1.0)  # any increasing score
    assert spearman(-angles, angles) == pytest.approx(-1.0)
    assert math.isnan(spearman([1.0, 1.0, 1.0], [0.0, 36.0, 72.0]))  # a constant side
    assert math.isnan(spearman([1.0], [0.0]))


def test_pairwise_accuracy_by_hand_with_a_tie_counting_half():
    scores = np.array([0.0, 1.0, 1.0, 3.0])
    pairs = np.array([[1, 0], [2, 1], [3, 2], [0, 3], [0, 1]])
    targets = np.array([1.0, 1.0, 1.0, -1.0, 1.0])
    # (1, 0) right; (2, 1) tied scores: half; (3, 2) right; (0, 3) right (target -1); (0, 1) wrong.
    assert pairwise_accuracy(scores, pairs, targets) == pytest.approx((1 + 0.5 + 1 + 1 + 0) / 5)
    assert math.isnan(pairwise_accuracy(scores, np.zeros((0, 2), dtype=np.int64), np.zeros(0)))
