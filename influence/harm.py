"""The tutorial's harmful-pair rule, written once: a training pair is *harmful* when its standardised
score is below `--threshold` on at least `--min-occurrences` validation pairs.

Scores are robust z-scores (`influence.standardize`), so the tutorial's `--threshold -3.0
--min-occurrences 5` means the same on every run. The influence files keep, per training pair
and per training recording, only its k lowest scores and the validation pairs they fall on
(`LowScores`): all the rule needs while `min_occurrences <= k`. Every consumer decides harm
here: the nested JSON's harmful pairs, compute's summary and picture, and the `pairs` and
`recordings` criteria of `exclusion.rules`. Its defaults (the tutorial's flags) live in
`influence.config`, which importing needs no numpy (`--help` stays quick).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from influence.config import DEFAULT_MIN_OCCURRENCES, DEFAULT_THRESHOLD


@dataclass
class LowScores:
    """Per row (training pair or recording): its k lowest scores, ascending, the validation pairs they
    fall on, and its mean score over the `columns` validation pairs scored."""

    low: np.ndarray  # (n, k) float
    index: np.ndarray  # (n, k) int: validation pair indices
    mean: np.ndarray  # (n,)
    columns: int  # validation pairs scored (Q, or the sample's size)

    @property
    def k(self) -> int:
        """Scores kept per row."""
        return self.low.shape[1]

    def check_min_occurrences(self, min_occurrences: int) -> None:
        """Refuse a `min_occurrences` the kept scores cannot decide (more than k of more than k columns)."""
        if min_occurrences > self.k and self.k < self.columns:
            raise ValueError(
                f"--min-occurrences {min_occurrences} is more than the {self.k} lowest scores per pair the influence"
                f" files keep: recompute with compute_tracin_influence.py --keep-lowest {min_occurrences} or more"
            )

    def below(self, threshold: float) -> np.ndarray:
        """(n, k) bool: which kept scores are below `threshold`."""
        return self.low < threshold

    def occurrences(self, threshold: float) -> np.ndarray:
        """(n,) validation pairs below `threshold` (at most k are known)."""
        return self.below(threshold).sum(axis=1)

    def harmful(self, threshold: float = DEFAULT_THRESHOLD, min_occurrences: int = DEFAULT_MIN_OCCURRENCES) -> np.ndarray:
        """(n,) bool: the rule of the module docstring, the one place it is decided."""
        return self.occurrences(threshold) >= min_occurrences

    def harmful_cells(self, threshold: float = DEFAULT_THRESHOLD, min_occurrences: int = DEFAULT_MIN_OCCURRENCES
                      ) -> Iterator[tuple[int, list[tuple[int, float]]]]:
        """(row, [(validation pair, score)]) of each harmful row, with its kept scores below `threshold`."""
        below = self.below(threshold)
        for p in np.flatnonzero(self.harmful(threshold, min_occurrences)).tolist():
            yield p, [(int(q), float(z)) for q, z, b in zip(self.index[p], self.low[p], below[p]) if b]

    def deciding_scores(self, min_occurrences: int = DEFAULT_MIN_OCCURRENCES) -> tuple[np.ndarray, int]:
        """((n,) each row's m-th lowest score, m): a row is harmful exactly when this is below the threshold.
        m is `min_occurrences`, or k when fewer scores are kept (for pictures and quantiles)."""
        m = min(min_occurrences, self.k)
        return self.low[:, m - 1].astype(np.float64), m


def describe_rule(threshold: float = DEFAULT_THRESHOLD, min_occurrences: int = DEFAULT_MIN_OCCURRENCES) -> str:
    """`below -3 on 5 or more validation pairs`: the rule in words."""
    return f"below {threshold:g} on {min_occurrences} or more validation pairs"
