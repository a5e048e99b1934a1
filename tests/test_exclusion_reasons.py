"""Each number in a listed take's reason is the one its words name (issue 17: a misfit z once showed as the
harmful-pairs figure), and the profile criterion lists, explains and suggests on a draw of known answer."""
from __future__ import annotations

import numpy as np
import pytest

from exclusion.config import RuleParams
from exclusion.label_noise import ProfileFeatures
from exclusion.report import reason
from exclusion.rules import Exclusion, Profiles, RuleInputs, Selection, select_exclusions
from influence.harm import LowScores


def _exclusion(**kw) -> Exclusion:
    base = dict(sample_id="plastic_deg000_500hz_03", rules=("pairs", "misfit"), strength=25.7,
                numbers={"pairs": 5.396, "misfit": 25.7, "profile": 0.97}, negative_occurrences=12,
                average_influence=-4.0, affected=np.arange(3), harmful_pairs=30, misfit=25.7, ranker_angle=180.0)
    return Exclusion(**{**base, **kw})


def test_each_clause_quotes_its_own_number():
    sel = Selection("combined", -3.0, 5, [], 0)
    text = reason(_exclusion(), sel, 135)
    assert "in 30 harmful training pair(s)" in text and "5.4 robust SD more than a typical recording" in text
    assert "lands among the 180 degree recordings (misfit 25.7 robust SD)" in text
    assert "25.7 robust SD more than" not in text  # the strength (the larger number) never stands in for pairs


def test_a_profile_listing_quotes_its_probabilities_and_tracin_explains_it():
    e = _exclusion(rules=("profile",), p_wrong=0.97, p_broken=0.01, suggested_angle=144.0, suggestion_probability=0.93)
    text = reason(e, Selection("profile", None, 5, [], 0), 135)
    assert "stored angle is wrong (p=0.97)" in text
    assert ("most likely recorded at 144 degrees (p=0.93, its harmonic profile with its ranker score, which lands "
            "among the 180 degree recordings)") in text
    assert text.endswith("TracIn: in 30 harmful training pair(s) (below -3 on at least 5 of 135 validation pairs; "
                         "5.4 robust SD more than a typical recording)")
    broken = reason(_exclusion(rules=("profile",), p_wrong=1.0, p_broken=0.99), Selection("profile", None, 5, [], 0), 135)
    assert broken.startswith("its harmonic profile fits no angle (broken take, p=0.99)")


def _profile_inputs() -> RuleInputs:
    """Three angles, 20 takes each, one feature: take 0 stored at 0 sounds like 90; take 1 fits no angle."""
    rng = np.random.default_rng(3)
    means = {0.0: 0.0, 90.0: 20.0, 180.0: 40.0}
    stored = np.repeat([0.0, 90.0, 180.0], 20)
    values = np.array([means[a] for a in stored]) + rng.normal(0, 1.0, len(stored))
    values[0], values[1] = 20.0, 400.0
    x = values[:, None]
    features = ProfileFeatures(x, np.full_like(x, np.nan), np.ones_like(x, bool), np.zeros_like(x, bool))
    n = len(stored)
    ids = [f"plastic_deg{int(a):03d}_500hz_{k:02d}" for k, a in enumerate(stored)]
    empty = LowScores(np.zeros((0, 0)), np.zeros((0, 0), dtype=int), np.zeros(0), 0)
    return RuleInputs(ids, stored, np.zeros((0, 2), dtype=int), empty,
                      LowScores(np.zeros((n, 0)), np.zeros((n, 0), dtype=int), np.zeros(n), 0),
                      profiles=Profiles(features, stored, np.arange(n)))


def test_the_profile_criterion_lists_the_mislabel_and_the_broken_take():
    inputs = _profile_inputs()
    sel = select_exclusions("profile", inputs, RuleParams(-3.0, 5, 30))
    assert sorted(sel.ids) == sorted([inputs.recording_ids[0], inputs.recording_ids[1]])
    by_id = {e.sample_id: e for e in sel.exclusions}
    mislabel, broken = by_id[inputs.recording_ids[0]], by_id[inputs.recording_ids[1]]
    assert mislabel.suggested_angle == 90.0 and mislabel.suggestion_probability > 0.9 and mislabel.p_broken < 0.5
    assert broken.suggested_angle is None and broken.p_broken > 0.5  # broken: listed without an angle
    assert sel.expected_false == pytest.approx(sum(1 - e.p_wrong for e in sel.exclusions))
    assert sel.verdicts.eps == pytest.approx(1 / 60, abs=0.02)
    for e in sel.exclusions:  # the numbers the review sheet's columns show are the listing's own
        r = inputs.recording_ids.index(e.sample_id)
        assert e.numbers["profile"] == sel.evidence["profile"][r] == e.p_wrong
    assert select_exclusions("profile", inputs, RuleParams(-3.0, 5, 1)).capped == 1
