"""Ranking pairs and the train / validation / holdout split."""
from __future__ import annotations

from typing import Sequence

import numpy as np

# Defined in the numpy-free config module (so --help loads no numpy); public here as before.
from datasets.config import DEFAULT_SPLIT, SPLIT_NAMES

__all__ = ["DEFAULT_SPLIT", "SPLIT_NAMES", "make_pairs", "pair_id", "stratified_split"]


def make_pairs(indices: Sequence[int], angles: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of the given recordings whose angles differ, in a fixed order.

    `indices` index into `angles`. Returns `pairs` (P, 2) int64 of recording indices, with
    i before j in the order of `indices`, and `targets` (P,) float32: +1 when the first
    recording has the larger angle, else -1.
    """
    idx = np.asarray(list(indices), dtype=np.int64)
    ang = np.asarray(angles, dtype=np.float64)[idx] if len(idx) else np.zeros(0)
    a, b = np.triu_indices(len(idx), k=1)
    keep = ang[a] != ang[b]
    a, b = a[keep], b[keep]
    pairs = np.stack([idx[a], idx[b]], axis=1) if len(a) else np.zeros((0, 2), dtype=np.int64)
    targets = np.where(ang[a] > ang[b], 1.0, -1.0).astype(np.float32)
    return pairs, targets


def pair_id(id_a: str, id_b: str) -> str:
    """`{id_a}_{id_b}`: the key older tools used. Keep structured id lists beside it."""
    return f"{id_a}_{id_b}"



def stratified_split(
    sample_ids: Sequence[str], angles: Sequence[float], fractions: Sequence[float] = DEFAULT_SPLIT, seed: int = 0
) -> dict[str, list[str]]:
    """Seeded split by sample id, stratified by angle. Returns {train, validation, holdout: sorted ids}.

    Each angle's recordings are shuffled and cut by `fractions` (largest remainder), so
    every split holds every angle when there are enough recordings.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    out: dict[str, list[str]] = {name: [] for name in SPLIT_NAMES}
    by_angle: dict[float, list[str]] = {}
    for sid, ang in sorted(zip(sample_ids, angles)):
        by_angle.setdefault(float(ang), []).append(sid)
    for ang in sorted(by_angle):
        ids = by_angle[ang]
        order = rng.permutation(len(ids))
        raw = np.asarray(fractions) * len(ids)
        counts = np.floor(raw).astype(int)
        # Largest remainder; ties go to the earlier split (train, then validation).
        for k in np.argsort(-(raw - counts), kind="stable")[: len(ids) - counts.sum()]:
            counts[k] += 1
        start = 0
        for name, count in zip(SPLIT_NAMES, counts):
            out[name].extend(ids[i] for i in order[start : start + count])
            start += count
    return {name: sorted(v) for name, v in out.items()}
