"""Where each training recording's score lands among the angles: the `misfit` criterion and suggested angles.

At every checkpoint the model gives each training recording a score. For recording r and
each angle a, compare r's score with the median score of the *other* training recordings
stored at a (leave-one-out, so r never vouches for itself):

- r's *gap* is the distance from the median of its own stored angle; its misfit is the
  robust z of that gap among all training recordings (`influence.stats.robust_z`),
  averaged over the checkpoints;
- the angle whose median is nearest is where r lands; r's *suggested angle* is the angle
  it lands at most often in the first half of the checkpoints (a tie goes to the earlier
  checkpoint).

Why not the last checkpoint: as training goes on, the model fits its mislabeled takes to
their wrong labels, so their scores drift towards the stored angle; the early checkpoints
still show where a take belongs. Measured on the research data sets of docs/design.md, the
last checkpoint suggested the right angle for 10 of 14 caught far mislabels, the first
half of the checkpoints for 14 of 14.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from influence.stats import robust_z


@dataclass
class Misfit:
    """Per training recording: misfit z (R,), suggested angle (R,), and the angle it lands at per checkpoint (C, R)."""

    z: np.ndarray
    suggested_angle: np.ndarray
    lands_at: np.ndarray


def _leave_one_out_medians(scores: np.ndarray, angles: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """(R, A): median score of the training recordings at each angle, without recording r itself."""
    out = np.empty((len(scores), len(levels)))
    for a, level in enumerate(levels):
        members = np.flatnonzero(angles == level)
        values = scores[members]
        out[:, a] = np.median(values) if len(values) else np.nan
        if len(values) > 1:  # a recording of this angle: the median of the others
            for i, r in enumerate(members):
                out[r, a] = np.median(np.delete(values, i))
        elif len(values) == 1:
            out[members[0], a] = np.nan
    return out


def misfit(checkpoint_scores: np.ndarray, angles: np.ndarray) -> Misfit:
    """Misfit z and suggested angles from the training recordings' scores (C, R) at C checkpoints; angles (R,)."""
    scores = np.atleast_2d(np.asarray(checkpoint_scores, dtype=np.float64))
    angles = np.asarray(angles, dtype=np.float64)
    levels = np.unique(angles)
    own = np.searchsorted(levels, angles)
    zs, lands = [], []
    for c in range(scores.shape[0]):
        medians = _leave_one_out_medians(scores[c], angles, levels)
        distance = np.abs(medians - scores[c][:, None])
        gap = distance[np.arange(len(angles)), own]
        zs.append(robust_z(np.nan_to_num(gap, nan=0.0)))
        lands.append(levels[np.argmin(np.where(np.isnan(distance), np.inf, distance), axis=1)])
    lands_at = np.stack(lands) if lands else np.zeros((0, len(angles)))
    early = lands_at[: (lands_at.shape[0] + 1) // 2]
    suggested = np.asarray(angles, dtype=np.float64).copy()
    for r in range(len(angles)):
        values, counts = np.unique(early[:, r], return_counts=True)
        if len(values):
            tied = set(values[counts == counts.max()].tolist())
            suggested[r] = next(a for a in early[:, r] if a in tied)  # the earliest of the tied angles
    z = np.mean(zs, axis=0) if zs else np.zeros(len(angles))
    return Misfit(z=z, suggested_angle=suggested, lands_at=lands_at)
