"""Robust statistics: medians, median absolute deviations (MAD) and what is made of them.

The robust standard deviation is 1.4826 x the MAD (for normal data it equals the standard
deviation, and a few outliers cannot inflate it). Outlier cuts are the median plus a number
of robust standard deviations (`median_plus_mads`); `median_and_scale` gives the centre and
scale, and `robust_z` puts values on that scale.
The column-wise version for score matrices is `influence.standardize`.
"""
from __future__ import annotations

import numpy as np

MAD_SCALE = 1.4826
"""Scales the median absolute deviation to the standard deviation of a normal distribution."""
ROBUST_Z = 3.0
"""How many robust standard deviations from the median count as an outlier."""


def median_plus_mads(values: np.ndarray, z: float) -> float:
    """median + z * 1.4826 * MAD of `values` (1-D, finite, not empty); a negative z gives a low cut."""
    med = float(np.median(values))
    mad = float(np.median(np.abs(values - med)))
    return med + z * MAD_SCALE * mad


def median_and_scale(values: np.ndarray, mad_floor: float = 0.0) -> tuple[float, float]:
    """(median, 1.4826 x max(MAD, mad_floor)) of a 1-D array; (0, 1.4826 x mad_floor) when it is empty.

    `mad_floor` keeps counts (whole numbers, often mostly equal) from a scale of 0.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return 0.0, MAD_SCALE * mad_floor
    med = float(np.median(v))
    return med, MAD_SCALE * max(float(np.median(np.abs(v - med))), mad_floor)


def robust_z(values: np.ndarray, mad_floor: float = 0.0) -> np.ndarray:
    """(value - median) / (1.4826 x max(MAD, mad_floor)) of a 1-D array; all zeros when that scale is 0."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return v
    med, scale = median_and_scale(v, mad_floor)
    return (v - med) / scale if scale > 0 else np.zeros_like(v)


def robust_high_cut(values: np.ndarray, z: float = ROBUST_Z) -> float:
    """median + z * 1.4826 * MAD of the finite `values` (any shape)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("no finite values to compute an outlier cut from")
    return median_plus_mads(v, z)
