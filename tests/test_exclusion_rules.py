"""The exclusion rules on small hand-made matrices with answers worked out by hand."""
import numpy as np
import pytest

from exclusion.rules import (
    rank_harmful_pairs,
    select_by_pairs,
    select_by_recordings,
    select_by_self_influence,
    select_exclusions,
)
from influence.io import sum_pairs_by_recording
from influence.stats import MAD_SCALE, robust_high_cut, suggest_threshold

# Five training recordings A..E, four validation pairs. Threshold -1, min-occurrences 2:
#   p0 (A,B) occ 3 mean -1.5   p1 (A,C) occ 2 mean -1.5   p2 (B,D) occ 2 mean 0.25
#   p3 (C,D) occ 1 (not harmful)   p4 (D,E) occ 2 mean -0.75
# Ranking: p0, p1, p4, p2. Harmful pairs per recording: A 2, B 2, C 1, D 2, E 1; sums of
# below-threshold scores: A -12, B -10, D -7, C -6, E -3.
PAIRS = [("A", "B"), ("A", "C"), ("B", "D"), ("C", "D"), ("D", "E")]
INFLUENCE = np.array(
    [
        [-2.0, -2.0, -2.0, 0.0],
        [-3.0, -3.0, 0.0, 0.0],
        [-2.0, -2.0, 0.0, 5.0],
        [-5.0, 0.0, 0.0, 0.0],
        [-1.5, -1.5, 0.0, 0.0],
    ]
)


def test_rank_harmful_pairs_orders_by_occurrences_then_mean():
    ranked = rank_harmful_pairs(INFLUENCE, -1.0, 2)
    assert ranked.index.tolist() == [0, 1, 4, 2]
    assert ranked.occurrences.tolist() == [3, 2, 2, 2]
    assert ranked.mean.tolist() == [-1.5, -1.5, -0.75, 0.25]
    assert ranked.below_sum.tolist() == [-6.0, -6.0, -3.0, -4.0]


def test_pairs_one_recording_per_pair_with_tie_rule():
    sel = select_by_pairs(PAIRS, INFLUENCE, -1.0, 2, None)
    # p0: A and B both in 2 harmful pairs; A's sum -12 < B's -10 -> A. p1: A already listed.
    # p4: D (2 pairs) over E (1). p2: B and D tie on count; B -10 < D -7 -> B.
    assert sel.ids == ["A", "D", "B"]
    assert sel.qualifying == 4
    a = sel.exclusions[0]
    assert a.harmful_pairs == 2
    assert a.negative_occurrences == 3  # validation pairs 0, 1, 2
    assert a.affected.tolist() == [0, 1, 2]
    assert a.average_influence == pytest.approx(-12.0 / 5)
    d = sel.exclusions[1]
    assert d.affected.tolist() == [0, 1] and d.average_influence == pytest.approx(-7.0 / 4)


def test_pairs_tie_on_count_and_sum_goes_to_smaller_id():
    sel = select_by_pairs([("rec_b", "rec_a")], np.array([[-2.0, -2.0]]), -1.0, 1, None)
    assert sel.ids == ["rec_a"]


def test_pairs_max_exclusions_counts_recordings():
    assert select_by_pairs(PAIRS, INFLUENCE, -1.0, 2, 2).ids == ["A", "D"]
    assert select_by_pairs(PAIRS, INFLUENCE, -1.0, 2, 1).ids == ["A"]


def test_pairs_consider_both():
    assert select_by_pairs(PAIRS, INFLUENCE, -1.0, 2, None, consider_both=True).ids == ["A", "B", "C", "D", "E"]
    assert select_by_pairs(PAIRS, INFLUENCE, -1.0, 2, 3, consider_both=True).ids == ["A", "B", "C"]
    # One slot left at p4 (D, E): only the more harmful D is added.
    assert select_by_pairs(PAIRS, INFLUENCE, -1.0, 2, 4, consider_both=True).ids == ["A", "B", "C", "D"]


def test_pairs_forbidden_ids_are_skipped_without_using_a_slot():
    sel = select_by_pairs(PAIRS, INFLUENCE, -1.0, 2, 2, forbidden={"A"})
    assert sel.ids == ["D", "B"]
    assert sel.vetoed == ["A"]
    both = select_by_pairs(PAIRS, INFLUENCE, -1.0, 2, 2, consider_both=True, forbidden={"A"})
    assert both.ids == ["B", "C"]


def test_pairs_nothing_qualifies():
    sel = select_by_pairs(PAIRS, INFLUENCE, -100.0, 2, 30)
    assert sel.ids == [] and sel.qualifying == 0


def test_sum_pairs_by_recording():
    ids, rec = sum_pairs_by_recording(PAIRS, INFLUENCE)
    assert ids == ["A", "B", "C", "D", "E"]
    np.testing.assert_allclose(
        rec,
        [
            [-5, -5, -2, 0],
            [-4, -4, -2, 5],
            [-8, -3, 0, 0],
            [-8.5, -3.5, 0, 5],
            [-1.5, -1.5, 0, 0],
        ],
    )


def test_recordings_criterion():
    ids, rec = sum_pairs_by_recording(PAIRS, INFLUENCE)
    # threshold -1: occurrences A 3, B 3, C 2, D 2, E 2; means A -3, B -1.25, C -2.75, D -1.75, E -0.75.
    sel = select_by_recordings(ids, rec, -1.0, 2, None)
    assert sel.ids == ["A", "B", "C", "D", "E"]
    assert sel.exclusions[0].negative_occurrences == 3
    assert sel.exclusions[0].average_influence == pytest.approx(-4.0)
    assert select_by_recordings(ids, rec, -1.0, 3, None).ids == ["A", "B"]
    # threshold -2.5: A, B, C, D each below on 2 pairs; ranked by mean: A, C, D, B. E never.
    assert select_by_recordings(ids, rec, -2.5, 2, None).ids == ["A", "C", "D", "B"]
    assert select_by_recordings(ids, rec, -2.5, 2, 2).ids == ["A", "C"]
    assert select_by_recordings(ids, rec, -2.5, 2, 2, forbidden={"C"}).ids == ["A", "D"]


def test_self_influence_criterion():
    ids, rec = sum_pairs_by_recording(PAIRS, INFLUENCE)
    si = np.array([1.0, 1.2, 0.9, 1.1, 10.0])
    # median 1.1, MAD 0.1 -> cut 1.1 + 3 * 1.4826 * 0.1; only E is above it.
    sel = select_by_self_influence(ids, si, rec, 30)
    assert sel.cut == pytest.approx(1.1 + 3 * MAD_SCALE * 0.1)
    assert sel.ids == ["E"]
    e = sel.exclusions[0]
    assert e.self_influence == 10.0
    assert e.affected.tolist() == [0, 1] and e.negative_occurrences == 2
    assert e.average_influence == pytest.approx(-0.75)
    two = select_by_self_influence(ids, np.array([1.0, 1.0, 1.0, 8.0, 9.0]), rec, 1)
    assert two.ids == ["E"] and two.qualifying == 2


def test_self_influence_needs_values():
    ids, rec = sum_pairs_by_recording(PAIRS, INFLUENCE)
    with pytest.raises(ValueError, match="self-influence"):
        select_exclusions("self-influence", PAIRS, INFLUENCE, ids, rec, None, None, 2, 30)
    with pytest.raises(ValueError, match="unknown criterion"):
        select_exclusions("nope", PAIRS, INFLUENCE, ids, rec, None, -1.0, 2, 30)


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="min-occurrences"):
        select_by_pairs(PAIRS, INFLUENCE, -1.0, 0, 30)
    with pytest.raises(ValueError, match="max-exclusions"):
        select_by_pairs(PAIRS, INFLUENCE, -1.0, 1, 0)


def test_suggest_threshold_robust_cut_ignores_zeros():
    scores = np.array([0.0, 0.0, -1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0])
    # non-zero: median 3, MAD 2 -> 3 - 3 * 1.4826 * 2
    assert suggest_threshold(scores) == pytest.approx(3 - 3 * MAD_SCALE * 2)
    assert suggest_threshold(scores.reshape(2, 5)) == pytest.approx(3 - 3 * MAD_SCALE * 2)


def test_suggest_threshold_fallbacks():
    tight = np.array([10.0, 10.0, 10.0, 10.0, -1.0])  # MAD 0 -> cut 10, not negative
    assert suggest_threshold(tight) == pytest.approx(np.percentile(tight, 1))
    assert suggest_threshold(np.array([5.0, 5.0, 5.0])) == 0.0
    with pytest.raises(ValueError, match="every influence score is 0"):
        suggest_threshold(np.zeros((3, 4)))


def test_robust_high_cut():
    assert robust_high_cut(np.array([1.0, 2.0, 3.0, 4.0, 100.0])) == pytest.approx(3 + 3 * MAD_SCALE * 1)
