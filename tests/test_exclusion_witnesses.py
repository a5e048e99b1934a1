"""Suggested angles from the profile and the ranker together: Bayes' rule checked by hand, and which
takes get an angle when the two witnesses agree, disagree, or the profile cannot tell angles apart."""
from __future__ import annotations

import math

import numpy as np
import pytest

from exclusion.label_noise import LabelVerdicts
from exclusion.witnesses import RELABEL_SURE, Flow, binomial_tail, combine, landing_likelihood, landing_steps

ANGLES = np.array([0.0, 36.0, 72.0, 108.0, 144.0, 180.0])


def _verdicts(post: np.ndarray, stored: np.ndarray) -> LabelVerdicts:
    """Verdicts with the given posterior (R, A + 1) for takes stored at `stored` (R,) angles."""
    idx = np.searchsorted(ANGLES, stored)
    return LabelVerdicts(p_wrong=1.0 - post[np.arange(len(post)), idx], eps=0.05, delta=0.02, posterior=post,
                         angles=ANGLES)


def _row(**mass: float) -> np.ndarray:
    """One posterior row from {'a36': 0.5, 'broken': 0.1, ...}; what is left goes to nobody (normalised)."""
    row = np.zeros(len(ANGLES) + 1)
    for key, p in mass.items():
        row[-1 if key == "broken" else int(np.flatnonzero(ANGLES == float(key[1:]))[0])] = p
    return row / row.sum()


def test_landing_steps_count_the_confirmed_takes_with_one_pseudo_count_per_step():
    stored = np.array([0, 36, 72, 108, 144, 180, 0, 36], dtype=float)
    lands = np.array([0, 36, 108, 108, 144, 180, 180, 0], dtype=float)
    confirmed = np.array([True] * 7 + [False])
    # steps of the confirmed: 0, 0, 1, 0, 0, 0, 5 -> counts [5, 1, 0, 0, 0, 1] + 1 each, over 13
    np.testing.assert_allclose(landing_steps(lands, stored, ANGLES, confirmed), np.array([6, 2, 1, 1, 1, 2]) / 13)


def test_landing_likelihood_spreads_each_distance_over_its_angles():
    steps = np.array([0.7, 0.2, 0.1])
    like = landing_likelihood(steps)
    # true angle 0: one angle at each distance; true angle 1: two angles at distance 1, none at 2
    np.testing.assert_allclose(like[0], [0.7, 0.2, 0.1])
    np.testing.assert_allclose(like[1], np.array([0.1, 0.7, 0.1]) / 0.9)
    np.testing.assert_allclose(like.sum(axis=1), 1.0)


def _scene() -> tuple[LabelVerdicts, np.ndarray, np.ndarray]:
    """60 takes; the first 54 confirmed (stored right, the ranker on their angle but every ninth one step
    off); then six listed takes, each a case of the module docstring."""
    rng = np.random.default_rng(0)
    stored = np.tile(ANGLES, 9)
    lands = stored.copy()
    lands[::9] = ANGLES[np.minimum(np.searchsorted(ANGLES, stored[::9]) + 1, 5)]
    rows = [_row(**{f"a{a:g}": 0.97 + rng.uniform(0, 0.02), "a0": 0.01, "broken": 0.01}) if a != 0
            else _row(a0=0.98, a36=0.01, broken=0.01) for a in stored]
    cases = [
        (108.0, 108.0, _row(a36=0.99, a108=0.01)),                  # 54: only the profile doubts it
        (0.0, 108.0, _row(a0=0.001, a108=0.5, a180=0.5)),              # 55: profile unsure, ranker decides
        (0.0, 72.0, _row(a0=0.001, a72=0.999)),                       # 56: both place it at 72
        (0.0, 0.0, _row(a0=0.0001, a72=0.9999)),                      # 57: a sure profile outvotes the ranker
        (36.0, 108.0, _row(a36=0.05, broken=0.95)),                   # 58: broken
        (36.0, 180.0, _row(a36=0.4, a72=0.6)),                        # 59: unsure, ranker elsewhere
    ]
    for s, land, row in cases:
        stored, lands = np.append(stored, s), np.append(lands, land)
        rows.append(row)
    return _verdicts(np.array(rows), stored), stored, lands


def test_combined_posterior_is_bayes_rule_with_the_measured_landing_chances():
    verdicts, stored, lands = _scene()
    like = landing_likelihood(landing_steps(lands, stored, ANGLES, verdicts.p_wrong < 0.5))
    got = combine(verdicts, stored, lands)
    for r in range(len(stored)):
        joint = verdicts.posterior[r] * np.append(like[:, int(np.searchsorted(ANGLES, lands[r]))], 1 / 6)
        joint /= joint.sum()
        best = int(joint[:-1].argmax())
        wanted = verdicts.p_wrong[r] > 0.5 and ANGLES[best] != stored[r] and joint[best] >= RELABEL_SURE \
            and joint[-1] < 0.5
        if wanted:
            assert got.angle[r] == ANGLES[best] and got.probability[r] == pytest.approx(joint[best])
        else:
            assert np.isnan(got.angle[r]) and np.isnan(got.probability[r])


def test_an_angle_needs_both_witnesses_or_a_sure_profile():
    verdicts, stored, lands = _scene()
    got = combine(verdicts, stored, lands)
    given = {int(r): float(got.angle[r]) for r in np.flatnonzero(~np.isnan(got.angle))}
    assert given == {55: 108.0, 56: 72.0, 57: 72.0}
    alone = combine(verdicts, stored, None)  # the profile alone (influence files without ranker scores)
    given = {int(r): float(alone.angle[r]) for r in np.flatnonzero(~np.isnan(alone.angle))}
    assert given == {54: 36.0, 56: 72.0, 57: 72.0}


def test_binomial_tail_matches_the_sum_by_hand():
    for n, p, k in ((12, 0.01, 2), (12, 0.04, 4), (30, 0.3, 0), (30, 0.3, 31), (800, 0.002, 6), (5, 0.5, 5)):
        want = sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))
        assert binomial_tail(n, p, k) == pytest.approx(want, rel=1e-9, abs=1e-300)


def test_a_flow_of_suggestions_more_than_accidents_explain_is_withheld_and_named():
    """12 takes per angle, 5% of labels wrong: five takes stored at 108 all sounding like 36 (to both witnesses)
    are more than accidents explain (expected 0.12 per flow); the one take stored at 0 sounding like 72 is not."""
    stored = np.repeat(ANGLES, 12)
    rows = [_row(**{f"a{a:g}": 0.99, "broken": 0.01}) for a in stored]
    lands = stored.copy()
    odd = [int(np.flatnonzero(stored == 108.0)[k]) for k in range(5)] + [int(np.flatnonzero(stored == 0.0)[0])]
    for r in odd[:5]:
        rows[r], lands[r] = _row(a36=0.999, a108=0.001), 36.0
    rows[odd[5]], lands[odd[5]] = _row(a72=0.999, a0=0.001), 72.0
    verdicts = _verdicts(np.array(rows), stored)
    verdicts.eps = 0.05
    got = combine(verdicts, stored, lands)
    assert got.withheld == [Flow(stored=108.0, suggested=36.0, takes=5, expected=pytest.approx(12 * 0.05 / 5))]
    assert np.isnan(got.angle[odd[:5]]).all() and got.angle[odd[5]] == 72.0
    assert np.flatnonzero(~np.isnan(got.angle)).tolist() == [odd[5]]
