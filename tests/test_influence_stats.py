"""The robust statistics of influence scores: outlier cuts, the suggested threshold, the summary."""
import numpy as np
import pytest

from influence.io import InfluenceData
from influence.stats import MAD_SCALE, median_plus_mads, robust_high_cut, score_sample, suggest_threshold, summarize


def test_suggest_threshold_robust_cut_ignores_zeros():
    scores = np.array([0.0, 0.0, -1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0])
    # non-zero: median 3, MAD 2 -> 3 - 3 * 1.4826 * 2
    assert suggest_threshold(scores) == pytest.approx(3 - 3 * MAD_SCALE * 2)
    assert suggest_threshold(scores.reshape(2, 5)) == pytest.approx(3 - 3 * MAD_SCALE * 2)


def test_suggest_threshold_fallbacks():
    tight = np.array([10.0, 10.0, 10.0, 10.0, -1.0])  # MAD 0 -> cut 10, not negative
    assert suggest_threshold(tight) == pytest.approx(np.percentile(tight, 1))
    assert suggest_threshold(np.array([5.0, 5.0, 5.0])) == 0.0
    with pytest.raises(ValueError, match="every influence score is 0"):
        suggest_threshold(np.zeros((3, 4)))


def test_robust_high_cut():
    assert robust_high_cut(np.array([1.0, 2.0, 3.0, 4.0, 100.0])) == pytest.approx(3 + 3 * MAD_SCALE * 1)


def test_median_plus_mads_by_hand():
    values = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    # median 4; absolute deviations 3, 2, 0, 3, 7 -> MAD 3
    assert median_plus_mads(values, 2.0) == pytest.approx(4 + 2 * MAD_SCALE * 3)
    assert median_plus_mads(values, -1.0) == pytest.approx(4 - MAD_SCALE * 3)


def test_suggest_threshold_of_the_hand_matrix(hand_matrix):
    # the 11 non-zero scores: -5, -3 (x2), -2 (x5), -1.5 (x2), 5: median -2, MAD 0.5
    assert suggest_threshold(hand_matrix.influence) == pytest.approx(-2 - 3 * MAD_SCALE * 0.5)


def test_summary_counts_zeros_and_negatives(hand_matrix):
    data = InfluenceData(hand_matrix.pairs, hand_matrix.val_pairs, hand_matrix.influence)
    summary = summarize(data, train_zero_rows=1, test_zero_cols=2)
    assert (summary["train_pairs"], summary["validation_pairs"]) == (5, 4)
    assert summary["zero_share"] == pytest.approx(9 / 20) and summary["negative_share"] == pytest.approx(10 / 20)
    assert summary["quantiles"]["0"] == -5.0 and summary["quantiles"]["1"] == 5.0
    assert summary["suggested_threshold"] == suggest_threshold(hand_matrix.influence)
    assert score_sample(np.arange(10.0).reshape(2, 5), limit=4).tolist() == [0.0, 3.0, 6.0, 9.0]
