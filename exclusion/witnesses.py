"""Suggested angles from two witnesses: the take's harmonic profile and where the ranker puts it.

The harmonic profile (`exclusion.label_noise`) says whether a take's stored angle is wrong
and which angle it sounds like. Two angles whose profiles are alike (at 3000 Hz the
harmonics above the second or third lie near the noise floor) leave it unsure between
them, and a clean take at the edge of its angle's profiles can look surer of another angle
than it should. The ranker is a second, independent witness: at its earliest checkpoint
that ranks the angles (`exclusion.misfit`) it has fitted the wrong labels least, and where
a take's score lands there depends on the whole spectrogram, not only on the harmonic levels.

The two are combined by Bayes' rule. How far the ranker lands from a take's true angle is
measured on the takes the profile says are right (their stored angle is their true angle
with probability above one half): P(lands k angle steps away), k = 0..A-1, with one pseudo-
count per step, spread evenly over the angles at that distance and normalised per true
angle. Each training take's profile posterior over the angles (and "broken") is multiplied
by the chance of where the ranker landed under each angle (a broken take: any angle, 1/A)
and normalised. A take gets a suggested angle when the profile says its label is wrong
(p > 1/2), the combined posterior's best angle is not its stored one, that angle has
combined probability >= `RELABEL_SURE`, and the take is not more likely broken. So a take
both witnesses place elsewhere gets the angle, a take only the profile doubts keeps none,
and where the profile cannot tell two angles apart the ranker decides.

The model behind both assumes a wrong label is an accident: each take's, independently of the
others, to any other angle alike. Then the suggestions from stored angle a to angle b number
about Binomial(n_a, eps / (A - 1)) (n_a training takes stored at a, eps the estimated share of
wrong labels). When one such flow holds more takes than that explains (its tail probability
below `FLOW_ALPHA` / (A (A - 1)), a Bonferroni cut over every flow), the takes are not
accidents as modelled: angle a's takes may sound two ways (one of them like b), or recordings
of b were filed under a as a whole. Their angles are withheld (they stay listed), and
generate says so, so that a person listens before anything is relabelled.

Shapes: R training takes, A angles.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from exclusion.label_noise import LabelVerdicts

RELABEL_SURE = 0.9
"""A suggested angle goes in the relabel file only when the two witnesses give it at least this probability."""
FLOW_ALPHA = 0.1
"""Expected flows withheld by chance over all A (A - 1) of them, were the labels wrong as the model assumes."""


@dataclass
class Flow:
    """Suggestions from one stored angle to one other angle, more than accidental wrong labels explain."""

    stored: float
    suggested: float
    takes: int
    expected: float
    """Takes expected in this flow by chance (n_a eps / (A - 1))."""


@dataclass
class Suggestions:
    """Per training take (R,): the suggested angle (NaN: none) and the combined probability of that angle; and
    the flows whose angles were withheld."""

    angle: np.ndarray
    probability: np.ndarray
    withheld: list[Flow] = field(default_factory=list)


def binomial_tail(n: int, p: float, k: int) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in log space (exact for the counts here)."""
    if k <= 0:
        return 1.0
    if p <= 0.0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p) if p < 1.0 else -math.inf
    terms = [math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) + j * log_p + (n - j) * log_q
             for j in range(k, n + 1)]
    top = max(terms, default=-math.inf)
    return 0.0 if top == -math.inf else min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def systematic_flows(stored: np.ndarray, angle: np.ndarray, levels: np.ndarray, eps: float) -> list[Flow]:
    """The (stored, suggested) flows of the suggestions `angle` (R,) (NaN: none) for takes stored at `stored` (R,)
    that accidental wrong labels at rate `eps` explain with probability below FLOW_ALPHA / (A (A - 1))."""
    A = len(levels)
    p, cut = eps / max(A - 1, 1), FLOW_ALPHA / max(A * (A - 1), 1)
    out = []
    for a in levels:
        n_a = int(np.count_nonzero(stored == a))
        targets, counts = np.unique(angle[(stored == a) & ~np.isnan(angle)], return_counts=True)
        out += [Flow(float(a), float(b), int(c), n_a * p) for b, c in zip(targets, counts)
                if binomial_tail(n_a, p, int(c)) < cut]
    return out


def landing_steps(lands: np.ndarray, stored: np.ndarray, levels: np.ndarray, confirmed: np.ndarray) -> np.ndarray:
    """(A,): P(the ranker lands k angle steps from a take's true angle), from the `confirmed` takes (R,) bool,
    with one pseudo-count per step. `lands`, `stored` (R,) angles among `levels` (A,)."""
    steps = np.abs(np.searchsorted(levels, lands[confirmed]) - np.searchsorted(levels, stored[confirmed]))
    counts = np.bincount(steps, minlength=len(levels)).astype(np.float64) + 1.0
    return counts / counts.sum()


def landing_likelihood(steps: np.ndarray) -> np.ndarray:
    """(A, A): P(lands at angle j | true angle i) from the step distribution (A,), each row normalised
    (an angle at the edge has one neighbour per distance, one in the middle two)."""
    A = len(steps)
    distance = np.abs(np.arange(A)[:, None] - np.arange(A)[None, :])
    at_distance = np.stack([np.bincount(row, minlength=A) for row in distance])  # (A, A): angles k steps from i
    like = steps[distance] / at_distance[np.arange(A)[:, None], distance]
    return like / like.sum(axis=1, keepdims=True)


def combine(verdicts: LabelVerdicts, stored: np.ndarray, lands: np.ndarray | None) -> Suggestions:
    """Suggested angles of the R training takes judged by `verdicts`; `stored` (R,) their stored angles;
    `lands` (R,) where the ranker puts each (None: the profile alone)."""
    post = verdicts.posterior  # (R, A + 1): angles, then broken
    levels = verdicts.angles
    A = len(levels)
    stored = np.asarray(stored, dtype=np.float64)
    if lands is not None:
        lands = np.asarray(lands, dtype=np.float64)
        like = landing_likelihood(landing_steps(lands, stored, levels, verdicts.p_wrong < 0.5))
        seen = like[:, np.searchsorted(levels, lands)].T  # (R, A): P(where it landed | true angle a)
        post = post * np.hstack([seen, np.full((len(post), 1), 1.0 / A)])
        post = post / post.sum(axis=1, keepdims=True)
    best = post[:, :A].argmax(axis=1)
    p_best = post[np.arange(len(post)), best]
    give = ((verdicts.p_wrong > 0.5) & (levels[best] != stored) & (p_best >= RELABEL_SURE) & (post[:, A] < 0.5))
    withheld = systematic_flows(stored, np.where(give, levels[best], np.nan), levels, verdicts.eps)
    for flow in withheld:
        give &= ~((stored == flow.stored) & (levels[best] == flow.suggested))
    return Suggestions(angle=np.where(give, levels[best], np.nan), probability=np.where(give, p_best, np.nan),
                       withheld=withheld)
