"""Which training recordings to exclude: one function per criterion, held in a registry; no file I/O.

Shapes: R training recordings, P training pairs (indices into the R recordings), Q
validation pairs, N recordings with a harmonic profile (the run's training and validation
recordings). TracIn scores are on the scale-free z scale of `influence.standardize`: a
score below -3 is three robust standard deviations more harmful than comparable items.
For each training pair and recording the influence files keep its k lowest scores and the
validation pairs they fall on (`influence.harm.LowScores`), which is all a threshold rule needs as long as
`min_occurrences <= k`.

Criteria (`CRITERIA`; `select_exclusions(criterion, inputs, params)`), each listing at most `max_exclusions`:

`profile` (the default)
    The take's harmonic profile says its stored angle is wrong or that it fits no angle:
    `exclusion.label_noise` fits a label-noise model to the training and validation takes
    (it estimates how many labels are wrong) and lists a training take whose posterior
    probability of a wrong label or a broken take is above one half. The expected number of
    false listings is the sum of (1 - p) over the listed takes.
`pairs` (the tutorial's rule)
    A training pair is *harmful* when its score is below `threshold` on at least
    `min_occurrences` validation pairs (`influence.harm`, the one place this is decided). A
    recording is listed when it is in unusually many harmful pairs: its count is a robust
    outlier (`robust_z` above 3, with a MAD of at least one pair).
    - `consider_both` (--consider-both-samples): the harmful pairs are explained away
      greedily: the recording in the most still-unexplained harmful pairs is listed (while
      its count is an outlier against the counts before any was explained), and its pairs
      are then explained, so the clean partners of a bad take are not listed for them.
    - otherwise each harmful pair counts only for its more harmful recording.
`recordings`
    Each recording's own influence (the sum of its pairs' rows), scored against the
    recordings of its angle: listed with at least `min_occurrences` validation pairs below
    `threshold` when that count is a robust outlier.
`self-influence`
    TracIn self-influence above median + 3 x 1.4826 x MAD (the TracIn paper's detector).
`misfit`
    The ranker's own scores over the checkpoints place the recording among another angle's
    recordings: misfit z (`exclusion.misfit`) above 3.
`combined`
    `pairs` or `misfit` (the previous default): the union, recordings listed by both first.

A listed take's `rules` are the criteria that list it (a set, in `CRITERIA` order);
`numbers` holds each criterion's own number for it, whatever listed it, so a reason quotes
the number its words name. Its suggested angle comes from the harmonic profile and where its
ranker score lands, combined (`exclusion.witnesses`: only where the profile says the label is
wrong, with how sure), when the influence files have profiles; else from where its ranker
score lands (`exclusion.misfit`). Ids in `forbidden` (commented
out by hand) are never listed and do not use up a slot; in `pairs` they still explain their
pairs away. A rule never removes the last training recording of an angle.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from statistics import NormalDist
from typing import Callable, Sequence

import numpy as np

from exclusion.config import RuleParams
from exclusion.criteria import (
    COMPOSITES,
    MISFIT,
    PAIRS,
    PROFILE,
    RECORDINGS,
    SELF_INFLUENCE,
    USES_TRACIN_THRESHOLD,
)
from exclusion.label_noise import LabelVerdicts, ProfileFeatures, judge_labels
from exclusion.misfit import Misfit, misfit
from exclusion.witnesses import Flow, Suggestions, combine
from influence.harm import LowScores
from influence.stats import ROBUST_Z, median_and_scale, robust_high_cut, robust_z

COUNT_MAD_FLOOR = 1.0
"""Counts of harmful pairs are whole numbers, mostly equal: their MAD is at least one pair."""
FAMILY_ALPHA = 0.1
"""The TracIn rules cut at the robust z above which, over all R training recordings, 0.1 false listings are expected
if a clean recording's z were standard normal (a Bonferroni cut, never below 3): z 3.0 at 72 recordings (the cut
they always had), 3.7 at 1,000, 4.3 at 10,000. Whether the null holds is measured (README, "Thousands of
recordings"), not assumed."""


def size_cut(n: int) -> float:
    """The robust-z cut for `n` recordings tested (`FAMILY_ALPHA`)."""
    return max(ROBUST_Z, NormalDist().inv_cdf(1.0 - FAMILY_ALPHA / max(n, 1)))


def expected_false(n: int, cut: float) -> float:
    """False listings expected among `n` recordings cut at robust z `cut`, if a clean recording's z were standard normal."""
    return n * (1.0 - NormalDist().cdf(cut))


@dataclass
class Profiles:
    """The harmonic profiles the `profile` criterion judges: N takes, their stored angles (N,), and the
    rows of the R training recordings among them (R,)."""

    features: ProfileFeatures
    angles: np.ndarray
    training_rows: np.ndarray


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
    profiles: Profiles | None = None


@dataclass
class Exclusion:
    """One listed recording and why. `affected` indexes validation pairs (sorted)."""

    sample_id: str
    rules: tuple[str, ...]
    strength: float
    """What the listing ranks by: the listing criterion's number (the larger of two for a composite)."""
    numbers: dict[str, float]
    """Each criterion's own number for this take (larger = more suspect; `exclusion.review_rows.SCORE_WORDS` says what each is)."""
    negative_occurrences: int
    average_influence: float
    affected: np.ndarray
    harmful_pairs: int | None = None
    self_influence: float | None = None
    misfit: float | None = None
    ranker_angle: float | None = None
    """Where its ranker score lands among the angles (`exclusion.misfit`), whatever the suggestion."""
    suggested_angle: float | None = None
    suggestion_probability: float | None = None
    """How sure the harmonic profile is of `suggested_angle` (None: it comes from the ranker's scores)."""
    p_wrong: float | None = None
    p_broken: float | None = None

    @property
    def rule(self) -> str:
        """`pairs+misfit`: the criteria that listed it, as the list note and the metadata spell them."""
        return "+".join(self.rules)


@dataclass
class Listing:
    """One criterion's answer: (recording, strength) most suspect first, ids left out by hand, how many qualified."""

    chosen: list[tuple[int, float]]
    vetoed: list[str]
    qualifying: int
    cut: float | None = None
    expected_false: float | None = None


@dataclass
class Selection:
    """A criterion's result: the ranked exclusions, how many candidates qualified, and the evidence."""

    criterion: str
    threshold: float | None
    min_occurrences: int
    exclusions: list[Exclusion]
    qualifying: int
    vetoed: list[str] = field(default_factory=list)
    cut: float | None = None
    evidence: dict[str, np.ndarray] = field(default_factory=dict)
    """Each criterion's per-recording number (R,), larger = more suspect (for the review sheet)."""
    suggested_angles: np.ndarray | None = None
    kept_for_angle: list[str] = field(default_factory=list)
    """Recordings the rule chose but left in training: each was its angle's last training recording."""
    expected_false: float | None = None
    """Expected false listings among the listed (the profile criterion's posterior; None where a rule has none)."""
    capped: int = 0
    """Recordings that qualified but did not fit under --max-exclusions."""
    verdicts: LabelVerdicts | None = None
    withheld: list[Flow] = field(default_factory=list)
    """Flows of suggestions from one angle to another, more than accidental wrong labels explain: no angle given."""

    @property
    def ids(self) -> list[str]:
        return [e.sample_id for e in self.exclusions]


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
    rows = np.flatnonzero(scores.harmful(threshold, min_occurrences))
    order = np.lexsort((rows, scores.mean[rows], -occ[rows]))
    rows = rows[order]
    below_sum = np.where(below[rows], scores.low[rows], 0.0).sum(axis=1)
    return HarmfulPairs(rows.astype(np.int64), occ[rows].astype(np.int64), scores.mean[rows], below_sum)


class Evidence:
    """Everything the criteria share for one selection, each piece computed once when first asked for."""

    def __init__(self, inputs: RuleInputs, params: RuleParams):
        self.inputs, self.params = inputs, params
        self.ids = inputs.recording_ids

    @cached_property
    def harmful(self) -> HarmfulPairs:
        return rank_harmful_pairs(self.inputs.pair_scores, self.params.threshold, self.params.min_occurrences)

    @cached_property
    def harm(self) -> tuple[np.ndarray, np.ndarray]:
        """(harmful pairs each recording is in (R,), sum of those pairs' below-threshold scores (R,))."""
        count, total = np.zeros(len(self.ids)), np.zeros(len(self.ids))
        for col in (0, 1):
            np.add.at(count, self.inputs.train_pairs[self.harmful.index, col], 1)
            np.add.at(total, self.inputs.train_pairs[self.harmful.index, col], self.harmful.below_sum)
        return count, total

    @cached_property
    def misfit(self) -> Misfit | None:
        scores = self.inputs.checkpoint_scores
        return None if scores is None or len(scores) == 0 else misfit(scores, self.inputs.angles)

    @cached_property
    def verdicts(self) -> LabelVerdicts | None:
        p = self.inputs.profiles
        return None if p is None else judge_labels(p.features, p.angles, p.training_rows)

    @cached_property
    def suggestions(self) -> Suggestions | None:
        """The profile's and the ranker's suggested angles (`exclusion.witnesses`); None without profiles."""
        if self.verdicts is None:
            return None
        return combine(self.verdicts, self.inputs.angles, None if self.misfit is None else self.misfit.suggested_angle)

    def by_criterion(self) -> dict[str, np.ndarray]:
        """Each criterion's per-recording number (R,), larger = more suspect (robust z, or a probability)."""
        inputs = self.inputs
        out = {PAIRS: robust_z(self.harm[0], COUNT_MAD_FLOOR),
               RECORDINGS: robust_z(inputs.recording_scores.occurrences(self.params.threshold).astype(float),
                                    COUNT_MAD_FLOOR)}
        if inputs.self_influence is not None:
            out[SELF_INFLUENCE] = robust_z(inputs.self_influence)
        if self.misfit is not None:
            out[MISFIT] = self.misfit.z
        if self.verdicts is not None:
            out[PROFILE] = self.verdicts.p_wrong
        return out

    @cached_property
    def cut(self) -> float:
        """The robust-z cut of the TracIn rules for these recordings (`size_cut`)."""
        return size_cut(len(self.ids))

    def take(self, order: Sequence[int]) -> tuple[list[int], list[str]]:
        """`order` without the ids commented out by hand (those returned second)."""
        kept = [int(r) for r in order if self.ids[r] not in self.params.forbidden]
        return kept, [self.ids[r] for r in order if self.ids[r] in self.params.forbidden]


def _count_null(count: np.ndarray) -> tuple[float, float]:
    """(median, robust SD) of the recordings' harmful-pair counts: what an unremarkable recording looks like."""
    return median_and_scale(count, COUNT_MAD_FLOOR)


def _explain_away(ev: Evidence) -> tuple[list[tuple[int, float]], list[str]]:
    """Greedy explaining away (module docstring): [(recording, count z)] listed, and the ids left out by hand."""
    count, total = ev.harm
    med, scale = _count_null(count)
    members = ev.inputs.train_pairs[ev.harmful.index]
    left = np.ones(len(members), dtype=bool)
    listed, vetoed = [], []
    while left.any():
        now = np.zeros(len(ev.ids))
        for col in (0, 1):
            np.add.at(now, members[left, col], 1)
        best = min(range(len(ev.ids)), key=lambda r: (-now[r], total[r], ev.ids[r]))
        if (now[best] - med) / scale <= ev.cut:
            break
        if ev.ids[best] in ev.params.forbidden:
            vetoed.append(ev.ids[best])
        else:
            listed.append((best, (count[best] - med) / scale))
        left &= ~(members == best).any(axis=1)
    return listed, vetoed


def _more_harmful_counts(ev: Evidence) -> np.ndarray:
    """(R,) harmful pairs attributed to each recording when each pair counts for its more harmful one."""
    count, total = ev.harm
    attributed = np.zeros(len(ev.ids))
    for row in ev.harmful.index:
        a, b = ev.inputs.train_pairs[row]
        attributed[min((a, b), key=lambda r: (-count[r], total[r], ev.ids[r]))] += 1
    return attributed


def _by_value(ev: Evidence, values: np.ndarray, qualifies: np.ndarray, cut: float | None = None,
              expected: float | None = None) -> Listing:
    """The qualifying recordings, largest value first."""
    taken, vetoed = ev.take([r for r in np.argsort(-values, kind="stable") if qualifies[r]])
    return Listing([(r, float(values[r])) for r in taken], vetoed, int(qualifies.sum()), cut, expected)


def by_pairs(ev: Evidence) -> Listing:
    inputs = ev.inputs
    if inputs.pair_scores.k == 0 and inputs.pair_scores.columns > 0:
        raise ValueError("this criterion needs the pair scores, and these influence files hold self-influence only"
                         " (compute ran with --compute-self-influence alone): rerun compute_tracin_influence.py with"
                         " --compute-influence, or use --criterion profile, self-influence or misfit")
    inputs.pair_scores.check_min_occurrences(ev.params.min_occurrences)
    if ev.params.consider_both:
        listed, vetoed = _explain_away(ev)
        return Listing(listed, vetoed, len(ev.harmful.index), ev.cut, expected_false(len(ev.ids), ev.cut))
    med, scale = _count_null(ev.harm[0])
    attributed = _more_harmful_counts(ev)
    z = (attributed - med) / scale
    order = [r for r in sorted(range(len(ev.ids)), key=lambda r: (-attributed[r], ev.ids[r])) if z[r] > ev.cut]
    taken, vetoed = ev.take(order)
    return Listing([(r, float(z[r])) for r in taken], vetoed, len(ev.harmful.index), ev.cut,
                   expected_false(len(ev.ids), ev.cut))


def by_recordings(ev: Evidence) -> Listing:
    scores = ev.inputs.recording_scores
    scores.check_min_occurrences(ev.params.min_occurrences)
    z = ev.by_criterion()[RECORDINGS]
    return _by_value(ev, z, scores.harmful(ev.params.threshold, ev.params.min_occurrences) & (z > ev.cut), ev.cut,
                     expected_false(len(ev.ids), ev.cut))


def by_self_influence(ev: Evidence) -> Listing:
    values = ev.inputs.self_influence
    if values is None:
        raise ValueError("criterion self-influence needs recording self-influence, and these influence files have "
                         "none (recompute them with compute_tracin_influence.py)")
    cut = robust_high_cut(values, ev.cut)
    return _by_value(ev, values, values > cut, cut, expected_false(len(ev.ids), ev.cut))


def by_misfit(ev: Evidence) -> Listing:
    if ev.misfit is None:
        raise ValueError("criterion misfit needs the recordings' scores at each checkpoint, and these influence"
                         " files have none (recompute them with this toolkit's compute_tracin_influence.py)")
    return _by_value(ev, ev.misfit.z, ev.misfit.z > ev.cut, ev.cut, expected_false(len(ev.ids), ev.cut))


def by_profile(ev: Evidence) -> Listing:
    v = ev.verdicts
    if v is None:
        raise ValueError("criterion profile needs the recordings' harmonic profiles, and these influence files have "
                         "none (written by an older compute): rerun compute_tracin_influence.py, or choose another "
                         "--criterion")
    listing = _by_value(ev, v.p_wrong, v.listed(), cut=0.5)
    listing.expected_false = float(sum(1.0 - v.p_wrong[r] for r, _ in listing.chosen))
    return listing


REGISTRY: dict[str, Callable[[Evidence], Listing]] = {
    PROFILE: by_profile, PAIRS: by_pairs, RECORDINGS: by_recordings, SELF_INFLUENCE: by_self_influence,
    MISFIT: by_misfit,
}


def _composite(ev: Evidence, parts: Sequence[str]) -> tuple[Listing, dict[int, tuple[str, ...]]]:
    """The union of `parts`' listings: takes every part lists first, then by strength; and who listed each."""
    listings = {name: REGISTRY[name](ev) for name in parts}
    strength: dict[int, float] = {}
    rules: dict[int, tuple[str, ...]] = {}
    for name in parts:
        for r, s in listings[name].chosen:
            strength[r] = max(strength.get(r, s), s)
            rules[r] = rules.get(r, ()) + (name,)
    order = sorted(strength.items(), key=lambda item: (len(rules[item[0]]) < len(parts), -item[1], ev.ids[item[0]]))
    vetoed = list(dict.fromkeys(v for name in parts for v in listings[name].vetoed))
    expected = [listings[name].expected_false for name in parts]
    total = None if any(e is None for e in expected) else float(sum(expected))  # a bound: the parts may overlap
    return Listing(order, vetoed, len(strength), ev.cut, total), rules


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


def _suggestion(ev: Evidence, r: int) -> tuple[float | None, float | None]:
    """(suggested angle, how sure) of training recording r: the angle the profile and the ranker together
    give it where the profile says the label is wrong, sure enough (`exclusion.witnesses`); none otherwise.
    Without profiles: where the ranker puts it."""
    s = ev.suggestions
    if s is None:
        return (None, None) if ev.misfit is None else (float(ev.misfit.suggested_angle[r]), None)
    if np.isnan(s.angle[r]):
        return None, None
    return float(s.angle[r]), float(s.probability[r])


def _pair_details(ev: Evidence, r: int) -> tuple[np.ndarray, float, int]:
    """(affected validation pairs, mean of the below-threshold scores, harmful pairs) of recording r."""
    rows = ev.harmful.index[(ev.inputs.train_pairs[ev.harmful.index] == r).any(axis=1)]
    scores = ev.inputs.pair_scores
    below = scores.below(ev.params.threshold)[rows]
    values = scores.low[rows][below]
    return np.unique(scores.index[rows][below]).astype(np.int64), float(values.mean()) if values.size else 0.0, len(rows)


def _describe(ev: Evidence, r: int, rules: tuple[str, ...], strength: float, numbers: dict[str, np.ndarray]) -> Exclusion:
    """The listed recording r with every number the reasons, the metadata and the review quote."""
    if ev.inputs.pair_scores.k > 0:
        affected, average, n_harmful = _pair_details(ev, r)
    else:
        affected, average, n_harmful = np.zeros(0, dtype=np.int64), 0.0, None
    if RECORDINGS in rules:
        s = ev.inputs.recording_scores
        affected = np.sort(s.index[r][s.below(ev.params.threshold)[r]]).astype(np.int64)
        average = float(s.mean[r])
    angle, sure = _suggestion(ev, r)
    v = ev.verdicts
    return Exclusion(
        sample_id=ev.ids[r], rules=rules, strength=float(strength),
        numbers={name: float(values[r]) for name, values in numbers.items()},
        negative_occurrences=int(affected.size), average_influence=average, affected=affected,
        harmful_pairs=n_harmful,
        self_influence=None if ev.inputs.self_influence is None else float(ev.inputs.self_influence[r]),
        misfit=None if ev.misfit is None else float(ev.misfit.z[r]),
        ranker_angle=None if ev.misfit is None else float(ev.misfit.suggested_angle[r]),
        suggested_angle=angle, suggestion_probability=sure,
        p_wrong=None if v is None else float(v.p_wrong[r]), p_broken=None if v is None else float(v.p_broken[r]),
    )


def select_exclusions(criterion: str, inputs: RuleInputs, params: RuleParams) -> Selection:
    """Run one criterion of `CRITERIA` (see the module docstring) and describe every listed recording.
    `params` were checked by `ExclusionConfig`."""
    ev = Evidence(inputs, params)
    max_exclusions = params.max_exclusions
    if criterion in COMPOSITES:
        listing, rules = _composite(ev, COMPOSITES[criterion])
    else:
        listing = REGISTRY[criterion](ev)
        rules = {r: (criterion,) for r, _ in listing.chosen}
    numbers = ev.by_criterion()
    chosen, kept = _keep_every_angle(listing.chosen, inputs.angles)
    capped = max(0, len(chosen) - max_exclusions) if max_exclusions is not None else 0
    chosen = chosen[:max_exclusions] if max_exclusions is not None else chosen
    expected = listing.expected_false
    if criterion == PROFILE:  # the profile's posterior: the sum of (1 - p) over what is listed
        expected = float(sum(1.0 - ev.verdicts.p_wrong[r] for r, _ in chosen))
    return Selection(criterion, params.threshold if criterion in USES_TRACIN_THRESHOLD else None, params.min_occurrences,
                     [_describe(ev, r, rules[r], s, numbers) for r, s in chosen], listing.qualifying, listing.vetoed,
                     listing.cut, numbers, _suggested_angles(ev), [inputs.recording_ids[r] for r in kept], expected,
                     capped, ev.verdicts, [] if ev.suggestions is None else ev.suggestions.withheld)


def _suggested_angles(ev: Evidence) -> np.ndarray | None:
    """(R,) every training recording's suggested angle (NaN: none), for the picture and the review sheet."""
    if ev.verdicts is None and ev.misfit is None:
        return None
    out = np.full(len(ev.ids), np.nan)
    for r in range(len(ev.ids)):
        angle, _ = _suggestion(ev, r)
        out[r] = np.nan if angle is None else angle
    return out
