"""Robust statistics of TracIn scores: the outlier cuts, the suggested threshold, the summary.

Every cut is the median plus or minus a number of robust standard deviations, where the
robust standard deviation is 1.4826 x the median absolute deviation (MAD): the one helper
`median_plus_mads` computes it for all of them.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from influence.io import InfluenceData

MAD_SCALE = 1.4826
"""Scales the median absolute deviation to the standard deviation of a normal distribution."""
ROBUST_Z = 3.0
"""How many robust standard deviations from the median count as an outlier."""
FALLBACK_PERCENTILE = 1.0
QUANTILE_SAMPLE = 2_000_000
SUMMARY_BLOCK_ROWS = 4096


def median_plus_mads(values: np.ndarray, z: float) -> float:
    """median + z * 1.4826 * MAD of `values` (1-D, finite, not empty); a negative z gives a low cut."""
    med = float(np.median(values))
    mad = float(np.median(np.abs(values - med)))
    return med + z * MAD_SCALE * mad


def robust_z(values: np.ndarray, mad_floor: float = 0.0) -> np.ndarray:
    """(value - median) / (1.4826 x max(MAD, mad_floor)) of a 1-D array; all zeros when that scale is 0.

    `mad_floor` keeps counts (whole numbers, often mostly equal) from dividing by a MAD of 0.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return v
    med = float(np.median(v))
    scale = MAD_SCALE * max(float(np.median(np.abs(v - med))), mad_floor)
    return (v - med) / scale if scale > 0 else np.zeros_like(v)


def robust_high_cut(values: np.ndarray, z: float = ROBUST_Z) -> float:
    """median + z * 1.4826 * MAD of the finite `values` (any shape)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("no finite values to compute an outlier cut from")
    return median_plus_mads(v, z)


def suggest_threshold(scores: np.ndarray) -> float:
    """A robust low-tail cut for influence scores (any shape); the value of `--threshold auto`.

    Zero scores are left out first: margin loss gives exactly 0 to pairs already beyond the
    margin, and they would collapse the spread. On the non-zero finite scores the cut is
    median - 3 * 1.4826 * MAD (three robust standard deviations below the median). When
    that cut is not negative (the scores are mostly negative, or tightly spread) it falls
    back to the 1st percentile of the non-zero scores; when that is not negative either
    (almost nothing is negative) it returns 0.0, so every negative score counts. The result
    is never positive. Raises ValueError when there is no non-zero finite score.
    """
    v = np.asarray(scores, dtype=np.float64).ravel()
    v = v[np.isfinite(v) & (v != 0)]
    if v.size == 0:
        raise ValueError("cannot suggest a threshold: every influence score is 0 (pass --threshold)")
    cut = median_plus_mads(v, -ROBUST_Z)
    if cut < 0:
        return cut
    fallback = float(np.percentile(v, FALLBACK_PERCENTILE))
    return fallback if fallback < 0 else 0.0


def score_sample(matrix: np.ndarray, limit: int = QUANTILE_SAMPLE) -> np.ndarray:
    """Every score when there are at most `limit`, else an even stride of them. (P, Q) -> (n,)."""
    flat = matrix.reshape(-1)
    return flat if flat.size <= limit else flat[:: -(-flat.size // limit)]


def summarize(data: InfluenceData, train_zero_rows: int, test_zero_cols: int) -> dict[str, Any]:
    """Quantiles, the share of exact zeros and why, and a suggested threshold.

    Counts run over row blocks, so a memory-mapped matrix is never loaded whole; quantiles
    and the suggested threshold use every score up to 2 million, else an even stride of them.
    """
    matrix = data.influence
    zeros = negatives = 0
    for start in range(0, matrix.shape[0], SUMMARY_BLOCK_ROWS):
        block = np.asarray(matrix[start : start + SUMMARY_BLOCK_ROWS])
        zeros += int(np.count_nonzero(block == 0))
        negatives += int(np.count_nonzero(block < 0))
    flat = matrix.reshape(-1)
    sample = score_sample(matrix)
    qs = [0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0]
    summary: dict[str, Any] = {
        "train_pairs": len(data.train_pairs),
        "validation_pairs": len(data.val_pairs),
        "quantiles": {f"{q:g}": float(np.quantile(sample, q)) for q in qs} if sample.size else {},
        "quantiles_from_scores": int(sample.size),
        "zero_share": zeros / flat.size if flat.size else 0.0,
        "train_pairs_beyond_margin_at_every_checkpoint": train_zero_rows,
        "validation_pairs_beyond_margin_at_every_checkpoint": test_zero_cols,
        "negative_share": negatives / flat.size if flat.size else 0.0,
    }
    try:
        summary["suggested_threshold"] = suggest_threshold(np.asarray(sample))
    except ValueError:
        summary["suggested_threshold"] = None
    return summary
