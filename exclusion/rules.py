"""Which training recordings to exclude, from TracIn scores: pure functions on arrays, no file I/O.

Shapes: P training pairs, Q validation pairs, R training recordings. `influence[p, q]` is
TracIn(train pair p, validation pair q); a negative score means training on p made the
loss on q worse (harmful). `recording_influence[r, q]` is the sum of the rows of every
training pair that contains recording r: removing r removes all of those pairs.

Three criteria (`select_exclusions(criterion=...)`):

`pairs` (default; the tutorial's rule)
    A training pair is *harmful* when its score is below `threshold` on at least
    `min_occurrences` validation pairs. Harmful pairs are ranked most harmful first: more
    below-threshold occurrences first, then the more negative mean over all Q validation
    pairs, then input order. Walking that ranking, recordings are added to the list until it
    holds `max_exclusions` recordings (the cap counts recordings, not pairs):

    - with `consider_both`, both recordings of the pair are added (the more harmful one
      first; when only one slot is left only the more harmful one is added);
    - without it, only the more harmful recording of the pair is added. A pair whose more
      harmful recording is already listed adds nothing (excluding either recording already
      removes the pair).

    *More harmful* (the tie rule): the recording that appears in more harmful pairs; on a
    tie, the one whose harmful pairs' below-threshold scores sum to the more negative
    value; still tied, the smaller sample id.

`recordings` (the per-recording rule of docs/design.md)
    Recording r's occurrences are the validation pairs q with `recording_influence[r, q] <
    threshold`; it qualifies with at least `min_occurrences` of them. Ranked by occurrences
    (descending), then by the mean over q of `recording_influence[r, q]` (ascending), then
    sample id.

`self-influence` (the TracIn paper's detector of mislabeled data)
    Recordings ranked by self-influence, highest first; a recording qualifies when it is a
    high outlier, above median + 3 * 1.4826 * MAD of all training recordings'
    self-influence (`influence.stats.robust_high_cut`). `threshold` and `min_occurrences`
    are not used.

Ids in `forbidden` (ids a person commented out of the list by hand) are never selected and
do not use up a slot; under `pairs` without `consider_both` a pair whose more harmful
recording is forbidden adds nothing (the other recording is not substituted).

What is reported per excluded recording (`Exclusion`):

- `pairs`: over all harmful pairs that contain the recording, the distinct validation pairs
  on which any of them is below threshold (`affected`, and their count
  `negative_occurrences`) and the mean of those below-threshold scores
  (`average_influence`);
- `recordings`: the validation pairs with `recording_influence[r, q] < threshold`, and the
  mean of those entries;
- `self-influence`: the validation pairs with `recording_influence[r, q] < 0`, and the mean
  of `recording_influence[r, :]` over all Q.

`influence.stats.suggest_threshold` gives the value `--threshold auto` uses.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Collection, Sequence

import numpy as np

from influence.stats import robust_high_cut
from utils.constants import CRITERIA, CRITERION_PAIRS, CRITERION_RECORDINGS, CRITERION_SELF_INFLUENCE


@dataclass
class Exclusion:
    """One recording to exclude and why. `affected` indexes validation pairs (sorted, int64)."""

    sample_id: str
    negative_occurrences: int
    average_influence: float
    affected: np.ndarray
    harmful_pairs: int | None = None
    self_influence: float | None = None


@dataclass
class Selection:
    """The result of a criterion: the ranked exclusions and how many candidates qualified."""

    criterion: str
    threshold: float | None
    exclusions: list[Exclusion]
    qualifying: int
    """Harmful pairs (`pairs`) or qualifying recordings (other criteria), before cap and veto."""
    vetoed: list[str] = field(default_factory=list)
    """Forbidden ids the rule would otherwise have added (in rank order)."""
    cut: float | None = None
    """`self-influence`: the outlier cut used."""
    ranking: HarmfulPairs | None = None
    """`pairs`: every harmful pair, most harmful first (what --verbose shows)."""

    @property
    def ids(self) -> list[str]:
        return [e.sample_id for e in self.exclusions]


def _check_params(threshold: float, min_occurrences: int, max_exclusions: int | None) -> None:
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold}")
    if min_occurrences < 1:
        raise ValueError(f"min-occurrences must be at least 1, got {min_occurrences}")
    if max_exclusions is not None and max_exclusions < 1:
        raise ValueError(f"max-exclusions must be at least 1, got {max_exclusions}")


@dataclass
class HarmfulPairs:
    """Harmful training pairs, most harmful first. All arrays have one entry per harmful pair."""

    index: np.ndarray  # (H,) int64 rows of the influence matrix
    occurrences: np.ndarray  # (H,) int64 below-threshold validation pairs
    mean: np.ndarray  # (H,) float64 mean over all Q
    below_sum: np.ndarray  # (H,) float64 sum of the below-threshold scores


def rank_harmful_pairs(influence: np.ndarray, threshold: float, min_occurrences: int) -> HarmfulPairs:
    """The pairs rule's ranking of `influence` (P, Q): more occurrences, then more negative mean, then row."""
    influence = np.asarray(influence, dtype=np.float64)
    below = influence < threshold
    occ = below.sum(axis=1)
    rows = np.flatnonzero(occ >= min_occurrences)
    mean = influence[rows].mean(axis=1) if rows.size else np.zeros(0)
    order = np.lexsort((rows, mean, -occ[rows]))
    rows = rows[order]
    below_sum = np.where(below[rows], influence[rows], 0.0).sum(axis=1)
    return HarmfulPairs(rows.astype(np.int64), occ[rows].astype(np.int64), mean[order], below_sum)


def recording_harm(
    train_pairs: Sequence[tuple[str, str]], harmful: HarmfulPairs
) -> dict[str, tuple[int, float]]:
    """Per recording in any harmful pair: (number of harmful pairs it is in, sum of their below-threshold scores)."""
    harm: dict[str, list] = {}
    for row, s in zip(harmful.index.tolist(), harmful.below_sum.tolist()):
        for sid in train_pairs[row]:
            entry = harm.setdefault(sid, [0, 0.0])
            entry[0] += 1
            entry[1] += s
    return {sid: (n, total) for sid, (n, total) in harm.items()}


def harm_key(sample_id: str, harm: dict[str, tuple[int, float]]) -> tuple[int, float, str]:
    """Sort key, most harmful first: more harmful pairs, then more negative below-threshold sum, then smaller id."""
    n, total = harm[sample_id]
    return (-n, total, sample_id)


def select_by_pairs(
    train_pairs: Sequence[tuple[str, str]],
    influence: np.ndarray,
    threshold: float,
    min_occurrences: int,
    max_exclusions: int | None,
    consider_both: bool = False,
    forbidden: Collection[str] = (),
) -> Selection:
    """The `pairs` criterion (module docstring) on `influence` (P, Q)."""
    _check_params(threshold, min_occurrences, max_exclusions)
    influence = np.asarray(influence, dtype=np.float64)
    harmful = rank_harmful_pairs(influence, threshold, min_occurrences)
    harm = recording_harm(train_pairs, harmful)
    forbidden = set(forbidden)
    cap = max_exclusions if max_exclusions is not None else len(harm)
    chosen: dict[str, None] = {}
    vetoed: dict[str, None] = {}
    for row in harmful.index.tolist():
        if len(chosen) >= cap:
            break
        ranked = sorted(set(train_pairs[row]), key=lambda sid: harm_key(sid, harm))
        wanted = ranked if consider_both else ranked[:1]
        for sid in wanted:
            if sid in forbidden:
                vetoed.setdefault(sid, None)
            elif sid not in chosen and len(chosen) < cap:
                chosen[sid] = None

    # Why each recording is excluded: all harmful pairs that contain it.
    rows_of: dict[str, list[int]] = {}
    for row in harmful.index.tolist():
        for sid in set(train_pairs[row]):
            rows_of.setdefault(sid, []).append(row)
    exclusions = []
    for sid in chosen:
        block = influence[rows_of[sid]]
        below = block < threshold
        affected = np.flatnonzero(below.any(axis=0))
        exclusions.append(
            Exclusion(
                sample_id=sid,
                negative_occurrences=int(affected.size),
                average_influence=float(block[below].mean()),
                affected=affected.astype(np.int64),
                harmful_pairs=len(rows_of[sid]),
            )
        )
    return Selection(CRITERION_PAIRS, threshold, exclusions, int(harmful.index.size), list(vetoed), ranking=harmful)


def _take_ranked(
    rows: Sequence[int],
    recording_ids: Sequence[str],
    max_exclusions: int | None,
    forbidden: Collection[str],
    make: Callable[[int], Exclusion],
) -> tuple[list[Exclusion], list[str]]:
    """Walk ranked recording rows: skip (and report) forbidden ids, stop at `max_exclusions`."""
    forbidden = set(forbidden)
    cap = max_exclusions if max_exclusions is not None else len(rows)
    exclusions: list[Exclusion] = []
    vetoed: list[str] = []
    for r in rows:
        if len(exclusions) >= cap:
            break
        if recording_ids[r] in forbidden:
            vetoed.append(recording_ids[r])
            continue
        exclusions.append(make(r))
    return exclusions, vetoed


def select_by_recordings(
    recording_ids: Sequence[str],
    recording_influence: np.ndarray,
    threshold: float,
    min_occurrences: int,
    max_exclusions: int | None,
    forbidden: Collection[str] = (),
) -> Selection:
    """The `recordings` criterion (module docstring) on `recording_influence` (R, Q)."""
    _check_params(threshold, min_occurrences, max_exclusions)
    rec = np.asarray(recording_influence, dtype=np.float64)
    below = rec < threshold
    occ = below.sum(axis=1)
    mean = rec.mean(axis=1)
    rows = [r for r in range(len(recording_ids)) if occ[r] >= min_occurrences]
    rows.sort(key=lambda r: (-int(occ[r]), float(mean[r]), recording_ids[r]))

    def exclusion(r: int) -> Exclusion:
        affected = np.flatnonzero(below[r]).astype(np.int64)
        return Exclusion(recording_ids[r], int(affected.size), float(rec[r, below[r]].mean()), affected)

    exclusions, vetoed = _take_ranked(rows, recording_ids, max_exclusions, forbidden, exclusion)
    return Selection(CRITERION_RECORDINGS, threshold, exclusions, len(rows), vetoed)


def select_by_self_influence(
    recording_ids: Sequence[str],
    self_influence: np.ndarray,
    recording_influence: np.ndarray,
    max_exclusions: int | None,
    forbidden: Collection[str] = (),
) -> Selection:
    """The `self-influence` criterion: `self_influence` (R,) high outliers; `recording_influence` (R, Q) for the report."""
    if max_exclusions is not None and max_exclusions < 1:
        raise ValueError(f"max-exclusions must be at least 1, got {max_exclusions}")
    si = np.asarray(self_influence, dtype=np.float64)
    rec = np.asarray(recording_influence, dtype=np.float64)
    cut = robust_high_cut(si)
    rows = [r for r in range(len(recording_ids)) if np.isfinite(si[r]) and si[r] > cut]
    rows.sort(key=lambda r: (-float(si[r]), recording_ids[r]))

    def exclusion(r: int) -> Exclusion:
        affected = np.flatnonzero(rec[r] < 0).astype(np.int64)
        return Exclusion(recording_ids[r], int(affected.size), float(rec[r].mean()), affected, self_influence=float(si[r]))

    exclusions, vetoed = _take_ranked(rows, recording_ids, max_exclusions, forbidden, exclusion)
    return Selection(CRITERION_SELF_INFLUENCE, None, exclusions, len(rows), vetoed, cut=cut)


def select_exclusions(
    criterion: str,
    train_pairs: Sequence[tuple[str, str]],
    influence: np.ndarray,
    recording_ids: Sequence[str],
    recording_influence: np.ndarray,
    recording_self_influence: np.ndarray | None,
    threshold: float | None,
    min_occurrences: int,
    max_exclusions: int | None,
    consider_both: bool = False,
    forbidden: Collection[str] = (),
) -> Selection:
    """Dispatch to one criterion (`pairs`, `recordings`, `self-influence`); see the module docstring.

    influence (P, Q), recording_influence (R, Q), recording_self_influence (R,) or None.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}: choose one of {', '.join(CRITERIA)}")
    if criterion == CRITERION_SELF_INFLUENCE:
        if recording_self_influence is None:
            raise ValueError(
                "criterion self-influence needs recording self-influence, and this influence file has none "
                "(recompute it with compute_tracin_influence.py)"
            )
        return select_by_self_influence(
            recording_ids, recording_self_influence, recording_influence, max_exclusions, forbidden
        )
    if threshold is None:
        raise ValueError(f"criterion {criterion} needs a threshold")
    if criterion == CRITERION_PAIRS:
        return select_by_pairs(
            train_pairs, influence, threshold, min_occurrences, max_exclusions, consider_both, forbidden
        )
    return select_by_recordings(
        recording_ids, recording_influence, threshold, min_occurrences, max_exclusions, forbidden
    )
