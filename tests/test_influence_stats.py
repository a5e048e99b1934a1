"""Robust statistics by hand: outlier cuts and robust z-scores."""
import numpy as np
import pytest

from influence.stats import MAD_SCALE, median_plus_mads, robust_high_cut, robust_z


def test_robust_high_cut():
    assert robust_high_cut(np.array([1.0, 2.0, 3.0, 4.0, 100.0])) == pytest.approx(3 + 3 * MAD_SCALE * 1)
    with pytest.raises(ValueError, match="no finite values"):
        robust_high_cut(np.array([np.nan]))


def test_median_plus_mads_by_hand():
    values = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    # median 4; absolute deviations 3, 2, 0, 3, 7 -> MAD 3
    assert median_plus_mads(values, 2.0) == pytest.approx(4 + 2 * MAD_SCALE * 3)
    assert median_plus_mads(values, -1.0) == pytest.approx(4 - MAD_SCALE * 3)


def test_robust_z_by_hand():
    assert robust_z(np.array([1.0, 2.0, 4.0, 7.0, 11.0])).tolist() == pytest.approx(
        [-3 / (MAD_SCALE * 3), -2 / (MAD_SCALE * 3), 0.0, 3 / (MAD_SCALE * 3), 7 / (MAD_SCALE * 3)])
    counts = np.array([0.0, 0.0, 0.0, 1.0, 9.0])  # MAD 0: the floor of one count is the scale
    assert robust_z(counts, mad_floor=1.0)[-1] == pytest.approx(9 / MAD_SCALE)
    assert robust_z(counts).tolist() == [0.0] * 5  # no floor and no spread: no evidence either way
