"""`InfluenceData`: one compute run's TracIn results, by index (the arrays `influence.npz` stores).

N recordings with a score (`sample_ids` (N,), `angles` (N,)), the pairs as index arrays
(`train_pairs` (P, 2), `val_pairs` (Q, 2), `recordings` (R,): the training recordings), and the
summaries of `influence.summary`: `pair_low_z`, `pair_low_idx` (P, k), `pair_mean_z` (P,),
`rec_low_z`, `rec_low_idx` (R, k), `rec_mean_z`, `rec_total` (R,), optionally
`rec_self_influence` (R,), `pair_self_influence` (P,), `checkpoint_scores` (C, R) with
`checkpoint_epochs` (C,), `profile_levels` and `profile_floors` (N, H): each recording's harmonic
profile (`datasets.harmonics.harmonic_profile`, what the `profile` criterion reads), and, when
small or asked for, the dense raw TracIn `influence` (P, Q) and its standardised `influence_z`
(P, Q). `info` is the run file's contents (`influence.records.InfluenceRun`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from datasets.pairs import pair_id
from datasets.sample_id import angle_of
from influence.harm import LowScores
from influence.records import InfluenceRun


@dataclass
class InfluenceData:
    """One compute run's TracIn results, by index (see the module docstring for each array)."""

    sample_ids: list[str]
    angles: np.ndarray
    train_pairs: np.ndarray
    val_pairs: np.ndarray
    recordings: np.ndarray
    pair_low_z: np.ndarray
    pair_low_idx: np.ndarray
    pair_mean_z: np.ndarray
    rec_low_z: np.ndarray
    rec_low_idx: np.ndarray
    rec_mean_z: np.ndarray
    rec_total: np.ndarray
    rec_self_influence: np.ndarray | None = None
    pair_self_influence: np.ndarray | None = None
    checkpoint_scores: np.ndarray | None = None
    checkpoint_epochs: np.ndarray | None = None
    influence: np.ndarray | None = None
    influence_z: np.ndarray | None = None
    profile_levels: np.ndarray | None = None  # (N, H) dB relative to the fundamental
    profile_floors: np.ndarray | None = None  # (N, H) each harmonic's noise floor, same scale
    info: InfluenceRun = field(default_factory=InfluenceRun)

    def __post_init__(self) -> None:
        self.sample_ids = [str(s) for s in self.sample_ids]
        if not isinstance(self.info, InfluenceRun):  # a run file's contents as read (tests, older callers)
            self.info = InfluenceRun.from_dict(self.info)
        N, P, Q, R = len(self.sample_ids), len(self.train_pairs), len(self.val_pairs), len(self.recordings)
        shapes = {"angles": (N,), "train_pairs": (P, 2), "val_pairs": (Q, 2), "pair_mean_z": (P,), "rec_mean_z": (R,),
                  "rec_total": (R,), "rec_self_influence": (R,), "pair_self_influence": (P,), "influence": (P, Q),
                  "influence_z": (P, Q)}
        for name, shape in shapes.items():
            value = getattr(self, name)
            if value is not None and tuple(np.shape(value)) != shape:
                raise ValueError(f"{name} has shape {tuple(np.shape(value))}, expected {shape}")
        for name, rows in (("pair_low_z", P), ("pair_low_idx", P), ("rec_low_z", R), ("rec_low_idx", R)):
            if np.shape(getattr(self, name))[0] != rows:
                raise ValueError(f"{name} has {np.shape(getattr(self, name))[0]} rows, expected {rows}")
        for name in ("profile_levels", "profile_floors"):
            value = getattr(self, name)
            if value is not None and (np.ndim(value) != 2 or np.shape(value)[0] != N):
                raise ValueError(f"{name} has shape {tuple(np.shape(value))}, expected ({N}, harmonics)")
        if self.checkpoint_scores is not None and np.shape(self.checkpoint_scores)[1:] != (R,):
            raise ValueError(f"checkpoint_scores has shape {np.shape(self.checkpoint_scores)}, expected (C, {R})")
        for name in ("train_pairs", "val_pairs", "recordings"):
            idx = np.asarray(getattr(self, name))
            if idx.size and (idx.min() < 0 or idx.max() >= N):
                raise ValueError(f"{name} indexes recordings outside the {N} sample ids")

    @property
    def recording_ids(self) -> list[str]:
        return [self.sample_ids[i] for i in self.recordings]

    @property
    def n_validation_pairs(self) -> int:
        return len(self.val_pairs)

    def pair_ids(self, pairs: np.ndarray) -> list[str]:
        return [pair_id(self.sample_ids[a], self.sample_ids[b]) for a, b in np.asarray(pairs).tolist()]

    @property
    def val_pair_ids(self) -> list[str]:
        return self.pair_ids(self.val_pairs)

    @property
    def columns_scored(self) -> int:
        """Validation pairs the pair scores count on: all, or the seeded sample the run file names."""
        scored = self.info.validation_pairs_scored
        return self.n_validation_pairs if scored is None else scored.scored

    def pair_scores(self) -> LowScores:
        """Each training pair's kept lowest scores, what the harmful-pair rule (`influence.harm`) reads."""
        return LowScores(self.pair_low_z, self.pair_low_idx, self.pair_mean_z, self.columns_scored)

    def recording_scores(self) -> LowScores:
        """Each training recording's kept lowest scores over its own influence (every validation pair)."""
        return LowScores(self.rec_low_z, self.rec_low_idx, self.rec_mean_z, self.n_validation_pairs)

    def training_pairs_by_recording(self) -> np.ndarray:
        """(P, 2): each training pair as positions in `recordings` (what the rules index)."""
        position = np.full(len(self.sample_ids), -1, dtype=np.int64)
        position[self.recordings] = np.arange(len(self.recordings))
        out = position[self.train_pairs]
        if (out < 0).any():
            raise ValueError("a training pair uses a recording that is not among the training recordings")
        return out



def angles_of(sample_ids: Iterable[str]) -> np.ndarray:
    """The stored angle of each sample id (from the id itself)."""
    return np.asarray([angle_of(s) for s in sample_ids], dtype=np.float64)
