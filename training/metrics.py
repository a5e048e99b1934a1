"""Ranking quality: pairwise accuracy and Spearman correlation of score with angle."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from datasets.pairs import make_pairs
from datasets.sample_id import angle_of


def pairwise_accuracy(scores: np.ndarray, pairs: np.ndarray, targets: np.ndarray) -> float:
    """Share of pairs ranked the right way; a tie counts half. scores (N,), pairs (P, 2), targets (P,)."""
    if len(pairs) == 0:
        return float("nan")
    margin = scores[pairs[:, 0]] - scores[pairs[:, 1]]
    agree = np.sign(margin) * targets
    return float(np.mean(np.where(agree > 0, 1.0, np.where(agree == 0, 0.5, 0.0))))


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), dtype=np.float64)
    sorted_x = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0
        i = j + 1
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation with average ranks for ties; NaN when either side is constant."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2:
        return float("nan")
    ra, rb = _average_ranks(a), _average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra**2).sum() * (rb**2).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


def ranking_quality(scores: Mapping[str, float], ids: Sequence[str]) -> tuple[float, float, int]:
    """How well `scores` (sample id -> score) rank the recordings `ids` by the angle their ids name: the pairwise
    accuracy over every cross-angle pair of them, the Spearman correlation of score with angle, and the pair count."""
    angles = np.asarray([angle_of(s) for s in ids], dtype=np.float64)
    values = np.asarray([scores[s] for s in ids], dtype=np.float64)
    pairs, targets = make_pairs(range(len(ids)), angles)
    return pairwise_accuracy(values, pairs, targets), spearman(values, angles), len(pairs)
