"""Where each training recording's score lands among the angles: the `misfit` criterion and suggested angles.

At every checkpoint the model gives each training recording a score. For recording r and
each angle a, compare r's score with the median score of the *other* training recordings
stored at a (leave-one-out, so r never vouches for itself):

- r's *gap* is the distance from the median of its own stored angle; its misfit is the
  robust z of that gap among all training recordings (`influence.stats.robust_z`),
  averaged over the checkpoints;
- the angle whose median is nearest is where r lands; r's *suggested angle* is where it
  lands at the earliest checkpoint whose per-angle medians are already in angle order
  (the first model that ranks the angles; the last checkpoint if none does).

Why the earliest: as training goes on, the model fits its mislabeled takes to their wrong
labels, so their scores drift towards the stored angle (a take of 0 degrees stored as 72
ends up among the 36-degree takes); the first checkpoint that ranks the angles has fitted
them least. Over the 10-seed demo study (24 takes, docs/design.md), of the 14 far
mislabels in training, that checkpoint suggested the true angle for 13, the last
checkpoint for 7, a vote over the first half of the checkpoints for 11.
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


def first_ranking_checkpoint(checkpoint_scores: np.ndarray, angles: np.ndarray) -> int:
    """Index of the first checkpoint (C, R scores) whose per-angle median scores are strictly
    monotone in the angle (either way round), else the last one."""
    levels = np.unique(angles)
    for c, scores in enumerate(checkpoint_scores):
        step = np.diff([np.median(scores[angles == a]) for a in levels])
        if len(levels) < 2 or (step > 0).all() or (step < 0).all():
            return c
    return len(checkpoint_scores) - 1


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
    first = first_ranking_checkpoint(scores, angles)
    suggested = lands_at[first].astype(np.float64) if len(lands_at) else angles.copy()
    z = np.mean(zs, axis=0) if zs else np.zeros(len(angles))
    return Misfit(z=z, suggested_angle=suggested, lands_at=lands_at)
