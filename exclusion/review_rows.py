"""What the review sheet and the review page say about each listed recording: its row.

A row holds a listed recording's stored angle, split, the rule that listed it, every
criterion's score and rank among the training recordings, its suggested angle and its WAV
file. Scores are each criterion's evidence on a robust z scale, higher = more suspicious
(`exclusion.rules.evidence_by_criterion`); rank 1 = the most suspicious. A *typical*
recording of an angle is the one a listed take is compared with: of the training
recordings of that angle that are not listed, the one with the median score under the
list's criterion; else the first recording of that angle (by id) that is neither listed
nor excluded.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import quote

import numpy as np

from datasets.sample_id import SampleId
from exclusion.criteria import MISFIT, PAIRS, PROFILE, RECORDINGS, SELF_INFLUENCE
from utils.constants import K_ANGLE, K_EXCLUDED, K_FILE_PATH, K_SPLIT

SCORE_MEANING = {
    PROFILE: "label wrong (p)",
    PAIRS: "harmful pairs (z)",
    RECORDINGS: "own harm (z)",
    SELF_INFLUENCE: "self-influence (z)",
    MISFIT: "misfit (z)",
}
"""criterion -> what its score is (for every criterion, higher is more suspicious)."""

SCORE_WORDS = {
    PROFILE: "the probability that its stored angle is wrong or the take is broken, from its harmonic profile",
    PAIRS: "how unusually many harmful training pairs it is in",
    RECORDINGS: "how unusually many validation pairs its own influence harms",
    SELF_INFLUENCE: "how unusually large its self-influence is",
    MISFIT: "how far the model's score of it sits from its angle's",
}
"""criterion -> what its number measures, in words (the review page)."""


@dataclass
class ReviewRow:
    """One listed recording as the review sheet and page show it."""

    sample_id: str
    angle: int | None
    split: str
    rule: str
    scores: dict[str, tuple[float, int]]  # criterion -> (score, rank)
    suggested: int | None
    wav: Path


def ranks(values: np.ndarray) -> np.ndarray:
    """Rank 1 = the highest value (most suspicious); NaN ranks last."""
    v = np.asarray(values, dtype=np.float64)
    key = np.where(np.isnan(v), np.inf, -v)
    out = np.empty(len(v), dtype=np.int64)
    out[np.argsort(key, kind="stable")] = np.arange(1, len(v) + 1)
    return out


def record_angle(sample_id: str, record: Mapping[str, Any]) -> int | None:
    """The stored angle: the metadata record's, else the one in the sample id."""
    if isinstance(record.get(K_ANGLE), int):
        return record[K_ANGLE]
    sid = SampleId.match(sample_id)
    return sid.angle if sid else None


def wav_path(sample_id: str, record: Mapping[str, Any], data_root: Path) -> Path:
    """The recording's file: its metadata `file_path` (relative to the data root), else where train.py looks for it."""
    stored = record.get(K_FILE_PATH)
    if isinstance(stored, str) and stored:
        path = Path(stored)
        return path if path.is_absolute() else data_root / path
    sid = SampleId.match(sample_id)
    return data_root / f"{sample_id}.wav" if sid is None else sid.wav_path(data_root)


def relative_path(target: Path, folder: Path) -> str:
    """`target` relative to `folder` (`../deg036/plastic/x.wav`), `/` separated: a data root moved or
    copied whole keeps it right."""
    return Path(os.path.relpath(os.path.abspath(target), os.path.abspath(folder))).as_posix()


def relative_link(target: Path, folder: Path) -> str:
    """`relative_path` as a URL (spaces and the like %-quoted), for a page or sheet in `folder` to link."""
    return quote(relative_path(target, folder))


def typical_recording(
    angle: int,
    avoid: set[str],
    recording_ids: Sequence[str],
    main_scores: np.ndarray | None,
    records: Mapping[str, Mapping[str, Any]],
) -> str | None:
    """The median-scoring unlisted training recording of `angle`, else the first clean one of any split."""
    pool = [(float(main_scores[r]) if main_scores is not None else np.nan, sid) for r, sid in enumerate(recording_ids)
            if sid not in avoid and record_angle(sid, records.get(sid, {})) == angle]
    scored = sorted((s, sid) for s, sid in pool if not np.isnan(s))
    if scored:
        return scored[(len(scored) - 1) // 2][1]
    clean = sorted(sid for sid, rec in records.items()
                   if isinstance(rec, Mapping) and sid not in avoid and rec.get(K_EXCLUDED) is not True
                   and record_angle(sid, rec) == angle)
    return clean[0] if clean else (sorted(sid for _, sid in pool)[:1] or [None])[0]


def review_rows(
    listed: Sequence[tuple[str, str]],
    recording_ids: Sequence[str],
    scores: Mapping[str, np.ndarray],
    records: Mapping[str, Mapping[str, Any]],
    data_root: Path,
    suggested: Mapping[str, int],
) -> list[ReviewRow]:
    """One row per (sample id, rule) of `listed`, in list order; `scores`: criterion -> (R,) over `recording_ids`."""
    index = {sid: r for r, sid in enumerate(recording_ids)}
    rank_of = {c: ranks(v) for c, v in scores.items()}
    rows = []
    for sid, rule in listed:
        record = records.get(sid, {}) if isinstance(records.get(sid, {}), Mapping) else {}
        r = index.get(sid)
        row_scores = {c: (float(v[r]), int(rank_of[c][r])) for c, v in scores.items() if r is not None}
        split = record.get(K_SPLIT) or ("train" if r is not None else "")
        rows.append(ReviewRow(sid, record_angle(sid, record), str(split), rule, row_scores, suggested.get(sid),
                              wav_path(sid, record, data_root)))
    return rows
