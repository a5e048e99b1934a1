"""Which training recordings to exclude: pure functions on arrays, no file I/O.

Shapes: R training recordings, P training pairs (indices into the R recordings), Q
validation pairs. Scores are on the scale-free z scale of `influence.standardize`: a score
below -3 is three robust standard deviations more harmful than comparable training items.
For each training pair and recording the influence files keep its k lowest scores and the
validation pairs they fall on (`LowScores`), which is all a threshold rule needs as long as
`min_occurrences <= k`.

Criteria (`select_exclusions(criterion=...)`), each listing at most `max_exclusions`:

`pairs` (the tutorial's rule)
    A training pair is *harmful* when its score is below `threshold` on at least
    `min_occurrences` validation pairs. A mislabeled take makes most of its pairs harmful; a
    clean take is harmful only through its partner. So a recording is listed when it is in
    unusually many harmful pairs: its count is a robust outlier (`robust_z` above 3, with
    a MAD of at least one pair) among all training recordings' counts.
    - `consider_both` (--consider-both-samples): both recordings of every harmful pair are
      candidates, and the harmful pairs are explained away greedily: the recording in the
      most still-unexplained harmful pairs is listed (while its count is an outlier against
      the counts before any was explained), and its pairs are then explained, so the clean
      partners of a bad take are not listed for the pairs the bad take explains.
    - otherwise each harmful pair counts only for its more harmful recording (more harmful
      pairs; then the more negative sum of their below-threshold scores; then the smaller
      id), and the recordings whose counts are outliers are listed, most first.
`recordings`
    Each recording's own influence (the sum of its pairs' rows) is scored the same way
    against the recordings of its angle; it qualifies with at least `min_occurrences`
    validation pairs below `threshold`, and is listed when that count is a robust outlier.
`self-influence`
    TracIn self-influence: listed when above median + 3 x 1.4826 x MAD of all training
    recordings' self-influence (the TracIn paper's detector of mislabeled data).
`misfit`
    The model's own scores over the checkpoints place the recording among another angle's
    recordings: its misfit z (`exclusion.misfit`) is above 3.
`combined` (default)
    `pairs` or `misfit`: the union, recordings listed by both first.

Ids in `forbidden` (commented out by hand) are never listed and do not use up a slot; in
`pairs` they still explain their pairs away (the person decided the take is fine). Every
selection also carries each criterion's per-recording evidence, for the review sheet.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Collection, Sequence

import numpy as np

from exclusion.misfit import Misfit, misfit
from influence.stats import ROBUST_Z, median_and_scale, robust_high_cut, robust_z
from utils.constants import (
    CRITERIA,
    CRITERION_COMBINED,
    CRITERION_MISFIT,
    CRITERION_PAIRS,
    CRITERION_RECORDINGS,
    CRITERION_SELF_INFLUENCE,
)

COUNT_MAD_FLOOR = 1.0
"""Counts of harmful pairs are whole numbers, mostly equal: their MAD is at least one pair."""


@dataclass
class LowScores:
    """Per row (training pair or recording): its k lowest scores, ascending, the validation pairs they
    fall on, and its mean score over all Q validation pairs."""

    low: np.ndarray  # (n, k)
    index: np.ndarray  # (n, k) int
    mean: np.ndarray  # (n,)
    columns: int  # Q

    @classmethod
    def from_matrix(cls, matrix: np.ndarray) -> "LowScores":
        """Every column of a dense (n, Q) matrix, sorted (k = Q)."""
        matrix = np.asarray(matrix, dtype=np.float64)
        order = np.argsort(matrix, axis=1, kind="stable")
        return cls(np.take_along_axis(matrix, order, axis=1), order, matrix.mean(axis=1), matrix.shape[1])

    @property
    def k(self) -> int:
        return self.low.shape[1]

    def check_min_occurrences(self, min_occurrences: int) -> None:
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


@dataclass
class RuleInputs:
    """What the rules read, for R training recordings and P training pairs."""

    recording_ids: list[str]
    angles: np.ndarray  # (R,)
    train_pairs: np.ndarray  # (P, 2) indices into recording_ids
    pair_scores: LowScores
    recording_scores: LowScores
    self_influence: np.ndarray | None = None  # (R,)
    checkpoint_scores: np.ndarray | None = None  # (C, R)

    def misfit(self) -> Misfit | None:
        if self.checkpoint_scores is None or len(self.checkpoint_scores) == 0:
            return None
        return misfit(self.checkpoint_scores, self.angles)


@dataclass
class Exclusion:
    """One listed recording and why. `affected` indexes validation pairs (sorted)."""

    sample_id: str
    rule: str
    negative_occurrences: int
    average_influence: float
    affected: np.ndarray
    evidence: float
    harmful_pairs: int | None = None
    self_influence: float | None = None
    misfit: float | None = None
    suggested_angle: float | None = None


@dataclass
class Selection:
    """A criterion's result: the ranked exclusions, how many candidates qualified, and the evidence."""

    criterion: str
    threshold: float | None
    exclusions: list[Exclusion]
    qualifying: int
    vetoed: list[str] = field(default_factory=list)
    cut: float | None = None
    evidence: dict[str, np.ndarray] = field(default_factory=dict)
    """Each criterion's per-recording score (R,), larger = more suspect (for the review sheet)."""
    suggested_angles: np.ndarray | None = None
    kept_for_angle: list[str] = field(default_factory=list)
    """Recordings the rule chose but left in training: each was its angle's last training recording."""

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
    """Harmful training pairs, most harmful first (more occurrences, more negative mean, row)."""

    index: np.ndarray  # (H,) rows
    occurrences: np.ndarray  # (H,)
    mean: np.ndarray  # (H,)
    below_sum: np.ndarray  # (H,) sum of the below-threshold scores


def rank_harmful_pairs(scores: LowScores, threshold: float, min_occurrences: int) -> HarmfulPairs:
    below = scores.below(threshold)
    occ = below.sum(axis=1)
    rows = np.flatnonzero(occ >= min_occurrences)
    order = np.lexsort((rows, scores.mean[rows], -occ[rows]))
    rows = rows[order]
    below_sum = np.where(below[rows], scores.low[rows], 0.0).sum(axis=1)
    return HarmfulPairs(rows.astype(np.int64), occ[rows].astype(np.int64), scores.mean[rows], below_sum)


def _harm_per_recording(pairs: np.ndarray, harmful: HarmfulPairs, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(harmful pairs each recording is in (n,), sum of those pairs' below-threshold scores (n,))."""
    count = np.zeros(n)
    total = np.zeros(n)
    for col in (0, 1):
        np.add.at(count, pairs[harmful.index, col], 1)
        np.add.at(total, pairs[harmful.index, col], harmful.below_sum)
    return count, total


def _count_null(count: np.ndarray) -> tuple[float, float]:
    """(median, robust SD) of the recordings' harmful-pair counts: what an unremarkable recording looks like."""
    return median_and_scale(count, COUNT_MAD_FLOOR)


def _explain_away(
    pairs: np.ndarray, harmful: HarmfulPairs, count: np.ndarray, total: np.ndarray, ids: Sequence[str],
    forbidden: set[str],
) -> tuple[list[tuple[int, int]], list[str], np.ndarray]:
    """Greedy explaining away (see the module docstring); `count`, `total` from `_harm_per_recording`.

    -> ([(recording, pairs explained)], vetoed, count z).
    """
    n = len(ids)
    med, scale = _count_null(count)
    left = np.ones(len(harmful.index), dtype=bool)
    members = pairs[harmful.index]
    listed: list[tuple[int, int]] = []
    vetoed: list[str] = []
    while left.any():
        now = np.zeros(n)
        for col in (0, 1):
            np.add.at(now, members[left, col], 1)
        best = min(range(n), key=lambda r: (-now[r], total[r], ids[r]))
        if (now[best] - med) / scale <= ROBUST_Z:
            break
        if ids[best] in forbidden:
            vetoed.append(ids[best])
        else:
            listed.append((best, int(now[best])))
        left &= ~(members == best).any(axis=1)
    return listed, vetoed, (count - med) / scale


def _more_harmful_counts(pairs: np.ndarray, harmful: HarmfulPairs, count: np.ndarray, total: np.ndarray,
                         ids: Sequence[str]) -> np.ndarray:
    """(R,) harmful pairs attributed to each recording when each pair counts for its more harmful one."""
    attributed = np.zeros(len(ids))
    for row in harmful.index:
        a, b = pairs[row]
        attributed[min((a, b), key=lambda r: (-count[r], total[r], ids[r]))] += 1
    return attributed


def _pair_details(inputs: RuleInputs, harmful: HarmfulPairs, threshold: float, r: int) -> tuple[np.ndarray, float, int]:
    """(affected validation pairs, mean of the below-threshold scores, harmful pairs) of recording r."""
    rows = harmful.index[(inputs.train_pairs[harmful.index] == r).any(axis=1)]
    below = inputs.pair_scores.below(threshold)[rows]
    affected = np.unique(inputs.pair_scores.index[rows][below])
    values = inputs.pair_scores.low[rows][below]
    return affected.astype(np.int64), float(values.mean()) if values.size else 0.0, len(rows)


def _recording_details(inputs: RuleInputs, threshold: float, r: int) -> tuple[np.ndarray, float]:
    """(validation pairs where the recording's own score is below threshold, its mean score)."""
    s = inputs.recording_scores
    below = s.below(threshold)[r]
    return np.sort(s.index[r][below]).astype(np.int64), float(s.mean[r])


def _take(order: Sequence[int], ids: Sequence[str], forbidden: set[str], cap: int | None) -> tuple[list[int], list[str]]:
    taken, vetoed = [], []
    for r in order:
        if cap is not None and len(taken) >= cap:
            break
        if ids[r] in forbidden:
            vetoed.append(ids[r])
        else:
            taken.append(r)
    return taken, vetoed


def evidence_by_criterion(inputs: RuleInputs, threshold: float, harm_count: np.ndarray,
                          mis: Misfit | None) -> dict[str, np.ndarray]:
    """Each criterion's per-recording evidence (R,), on a robust z scale (larger = more suspect).

    `harm_count` (R,): the harmful training pairs each recording is in (`_harm_per_recording`).
    """
    out = {
        CRITERION_PAIRS: robust_z(harm_count, COUNT_MAD_FLOOR),
        CRITERION_RECORDINGS: robust_z(inputs.recording_scores.occurrences(threshold).astype(float), COUNT_MAD_FLOOR),
    }
    if inputs.self_influence is not None:
        out[CRITERION_SELF_INFLUENCE] = robust_z(inputs.self_influence)
    if mis is not None:
        out[CRITERION_MISFIT] = mis.z
    return out


def select_exclusions(
    criterion: str,
    inputs: RuleInputs,
    threshold: float,
    min_occurrences: int,
    max_exclusions: int | None,
    consider_both: bool = False,
    forbidden: Collection[str] = (),
) -> Selection:
    """Run one criterion (see the module docstring) and describe every listed recording."""
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}: choose one of {', '.join(CRITERIA)}")
    _check_params(threshold, min_occurrences, max_exclusions)
    if criterion in (CRITERION_PAIRS, CRITERION_COMBINED):
        if inputs.pair_scores.k == 0 and inputs.pair_scores.columns > 0:
            raise ValueError(f"criterion {criterion} needs the pair scores, and these influence files hold self-influence"
                             " only: recompute with compute_tracin_influence.py --compute-influence, or use --criterion"
                             " self-influence or misfit")
        inputs.pair_scores.check_min_occurrences(min_occurrences)
    if criterion == CRITERION_RECORDINGS:
        inputs.recording_scores.check_min_occurrences(min_occurrences)
    ids, forbidden = inputs.recording_ids, set(forbidden)
    mis = inputs.misfit()
    harmful = rank_harmful_pairs(inputs.pair_scores, threshold, min_occurrences)
    harm_count, harm_total = _harm_per_recording(inputs.train_pairs, harmful, len(ids))
    evidence = evidence_by_criterion(inputs, threshold, harm_count, mis)
    suggested = None if mis is None else mis.suggested_angle

    def describe(r: int, rule: str, strength: float) -> Exclusion:
        if rule == CRITERION_PAIRS:
            affected, average, n_harmful = _pair_details(inputs, harmful, threshold, r)
        else:
            (affected, average), n_harmful = _recording_details(inputs, threshold, r), None
        return Exclusion(
            sample_id=ids[r], rule=rule, negative_occurrences=int(affected.size), average_influence=average,
            affected=affected, evidence=float(strength), harmful_pairs=n_harmful,
            self_influence=None if inputs.self_influence is None else float(inputs.self_influence[r]),
            misfit=None if mis is None else float(mis.z[r]),
            suggested_angle=None if suggested is None else float(suggested[r]),
        )

    def by_pairs() -> tuple[list[tuple[int, float]], list[str], int]:
        if consider_both:
            listed, vetoed, zc = _explain_away(inputs.train_pairs, harmful, harm_count, harm_total, ids, forbidden)
            return [(r, zc[r]) for r, _ in listed], vetoed, len(harmful.index)
        attributed = _more_harmful_counts(inputs.train_pairs, harmful, harm_count, harm_total, ids)
        med, scale = _count_null(harm_count)
        z = (attributed - med) / scale
        order = [r for r in sorted(range(len(ids)), key=lambda r: (-attributed[r], ids[r])) if z[r] > ROBUST_Z]
        taken, vetoed = _take(order, ids, forbidden, None)
        return [(r, z[r]) for r in taken], vetoed, len(harmful.index)

    def by_score(values: np.ndarray, qualifies: np.ndarray) -> tuple[list[tuple[int, float]], list[str], int]:
        order = [r for r in np.argsort(-values, kind="stable") if qualifies[r]]
        taken, vetoed = _take(order, ids, forbidden, None)
        return [(r, values[r]) for r in taken], vetoed, int(qualifies.sum())

    cut = None
    if criterion == CRITERION_PAIRS:
        chosen, vetoed, qualifying = by_pairs()
        rules = {r: CRITERION_PAIRS for r, _ in chosen}
    elif criterion == CRITERION_RECORDINGS:
        occ = inputs.recording_scores.occurrences(threshold)
        z = evidence[CRITERION_RECORDINGS]
        chosen, vetoed, qualifying = by_score(z, (occ >= min_occurrences) & (z > ROBUST_Z))
        rules = {r: criterion for r, _ in chosen}
    elif criterion == CRITERION_SELF_INFLUENCE:
        if inputs.self_influence is None:
            raise ValueError("criterion self-influence needs recording self-influence, and these influence files have "
                             "none (recompute them with compute_tracin_influence.py)")
        cut = robust_high_cut(inputs.self_influence)
        chosen, vetoed, qualifying = by_score(inputs.self_influence, inputs.self_influence > cut)
        rules = {r: criterion for r, _ in chosen}
    else:
        if mis is None:
            raise ValueError(f"criterion {criterion} needs the recordings' scores at each checkpoint, and these influence"
                             " files have none (recompute them with this toolkit's compute_tracin_influence.py)")
        misfit_chosen, misfit_vetoed, misfit_qualifying = by_score(mis.z, mis.z > ROBUST_Z)
        if criterion == CRITERION_MISFIT:
            chosen, vetoed, qualifying = misfit_chosen, misfit_vetoed, misfit_qualifying
            rules = {r: criterion for r, _ in chosen}
        else:
            pair_chosen, pair_vetoed, _ = by_pairs()
            strength = {r: s for r, s in misfit_chosen}
            for r, s in pair_chosen:
                strength[r] = max(strength.get(r, s), s)
            both = {r for r, _ in misfit_chosen} & {r for r, _ in pair_chosen}
            rules = {r: CRITERION_MISFIT for r, _ in misfit_chosen} | {r: CRITERION_PAIRS for r, _ in pair_chosen}
            rules |= {r: f"{CRITERION_PAIRS}+{CRITERION_MISFIT}" for r in both}
            chosen = sorted(strength.items(), key=lambda item: (item[0] not in both, -item[1], ids[item[0]]))
            vetoed = list(dict.fromkeys(pair_vetoed + misfit_vetoed))
            qualifying = len(strength)
    chosen, kept = _keep_every_angle(chosen, inputs.angles)
    if max_exclusions is not None:
        chosen = chosen[:max_exclusions]
    exclusions = []
    for r, strength in chosen:
        exclusions.append(describe(r, CRITERION_PAIRS if rules[r].startswith(CRITERION_PAIRS) else rules[r], strength))
        exclusions[-1].rule = rules[r]
    return Selection(criterion, threshold, exclusions, qualifying, vetoed, cut, evidence, suggested,
                     kept_for_angle=[ids[r] for r in kept])


def _keep_every_angle(chosen: list[tuple[int, float]], angles: np.ndarray) -> tuple[list, list[int]]:
    """Drop, from the least suspect end, recordings whose exclusion would leave an angle with no
    training recording (train.py refuses such a list): one recording of each angle always stays."""
    left = {a: int(np.count_nonzero(angles == a)) for a in np.unique(angles)}
    kept, out = [], []
    for r, strength in chosen:
        if left[angles[r]] <= 1:
            kept.append(r)
            continue
        left[angles[r]] -= 1
        out.append((r, strength))
    return out, kept
