"""The exclusion rules on the 5 x 4 matrix of conftest.py (`hand_matrix`), with answers worked out by hand.

Recordings A..E are the matrix's training recordings, in id order; see `HandMatrix` for the
ranking the rules must find."""
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
from influence.stats import MAD_SCALE


def test_rank_harmful_pairs_orders_by_occurrences_then_mean(hand_matrix):
    ranked = rank_harmful_pairs(hand_matrix.influence, -1.0, 2)
    assert ranked.index.tolist() == [0, 1, 4, 2]
    assert ranked.occurrences.tolist() == [3, 2, 2, 2]
    assert ranked.mean.tolist() == [-1.5, -1.5, -0.75, 0.25]
    assert ranked.below_sum.tolist() == [-6.0, -6.0, -3.0, -4.0]


def test_pairs_one_recording_per_pair_with_tie_rule(hand_matrix):
    A, B, C, D, E = hand_matrix.ids
    pairs, influence = hand_matrix.pairs, hand_matrix.influence
    sel = select_by_pairs(pairs, influence, -1.0, 2, None)
    # p0: A and B both in 2 harmful pairs; A's sum -12 < B's -10 -> A. p1: A already listed.
    # p4: D (2 pairs) over E (1). p2: B and D tie on count; B -10 < D -7 -> B.
    assert sel.ids == [A, D, B]
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


def test_pairs_max_exclusions_counts_recordings(hand_matrix):
    A, B, C, D, E = hand_matrix.ids
    pairs, influence = hand_matrix.pairs, hand_matrix.influence
    assert select_by_pairs(pairs, influence, -1.0, 2, 2).ids == [A, D]
    assert select_by_pairs(pairs, influence, -1.0, 2, 1).ids == [A]


def test_pairs_consider_both(hand_matrix):
    A, B, C, D, E = hand_matrix.ids
    pairs, influence = hand_matrix.pairs, hand_matrix.influence
    assert select_by_pairs(pairs, influence, -1.0, 2, None, consider_both=True).ids == [A, B, C, D, E]
    assert select_by_pairs(pairs, influence, -1.0, 2, 3, consider_both=True).ids == [A, B, C]
    # One slot left at p4 (D, E): only the more harmful D is added.
    assert select_by_pairs(pairs, influence, -1.0, 2, 4, consider_both=True).ids == [A, B, C, D]


def test_pairs_forbidden_ids_are_skipped_without_using_a_slot(hand_matrix):
    A, B, C, D, E = hand_matrix.ids
    pairs, influence = hand_matrix.pairs, hand_matrix.influence
    sel = select_by_pairs(pairs, influence, -1.0, 2, 2, forbidden={A})
    assert sel.ids == [D, B]
    assert sel.vetoed == [A]
    both = select_by_pairs(pairs, influence, -1.0, 2, 2, consider_both=True, forbidden={A})
    assert both.ids == [B, C]


def test_pairs_nothing_qualifies(hand_matrix):
    pairs, influence = hand_matrix.pairs, hand_matrix.influence
    sel = select_by_pairs(pairs, influence, -100.0, 2, 30)
    assert sel.ids == [] and sel.qualifying == 0


def test_recordings_criterion(hand_matrix):
    A, B, C, D, E = hand_matrix.ids
    pairs, influence = hand_matrix.pairs, hand_matrix.influence
    ids, rec = sum_pairs_by_recording(pairs, influence)
    # threshold -1: occurrences A 3, B 3, C 2, D 2, E 2; means A -3, B -1.25, C -2.75, D -1.75, E -0.75.
    sel = select_by_recordings(ids, rec, -1.0, 2, None)
    assert sel.ids == [A, B, C, D, E]
    assert sel.exclusions[0].negative_occurrences == 3
    assert sel.exclusions[0].average_influence == pytest.approx(-4.0)
    assert select_by_recordings(ids, rec, -1.0, 3, None).ids == [A, B]
    # threshold -2.5: A, B, C, D each below on 2 pairs; ranked by mean: A, C, D, B. E never.
    assert select_by_recordings(ids, rec, -2.5, 2, None).ids == [A, C, D, B]
    assert select_by_recordings(ids, rec, -2.5, 2, 2).ids == [A, C]
    assert select_by_recordings(ids, rec, -2.5, 2, 2, forbidden={C}).ids == [A, D]


def test_self_influence_criterion(hand_matrix):
    A, B, C, D, E = hand_matrix.ids
    pairs, influence = hand_matrix.pairs, hand_matrix.influence
    ids, rec = sum_pairs_by_recording(pairs, influence)
    si = np.array([1.0, 1.2, 0.9, 1.1, 10.0])
    # median 1.1, MAD 0.1 -> cut 1.1 + 3 * 1.4826 * 0.1; only E is above it.
    sel = select_by_self_influence(ids, si, rec, 30)
    assert sel.cut == pytest.approx(1.1 + 3 * MAD_SCALE * 0.1)
    assert sel.ids == [E]
    e = sel.exclusions[0]
    assert e.self_influence == 10.0
    assert e.affected.tolist() == [0, 1] and e.negative_occurrences == 2
    assert e.average_influence == pytest.approx(-0.75)
    two = select_by_self_influence(ids, np.array([1.0, 1.0, 1.0, 8.0, 9.0]), rec, 1)
    assert two.ids == [E] and two.qualifying == 2


def test_self_influence_needs_values(hand_matrix):
    pairs, influence = hand_matrix.pairs, hand_matrix.influence
    ids, rec = sum_pairs_by_recording(pairs, influence)
    with pytest.raises(ValueError, match="self-influence"):
        select_exclusions("self-influence", pairs, influence, ids, rec, None, None, 2, 30)
    with pytest.raises(ValueError, match="unknown criterion"):
        select_exclusions("nope", pairs, influence, ids, rec, None, -1.0, 2, 30)


def test_parameters_are_checked(hand_matrix):
    pairs, influence = hand_matrix.pairs, hand_matrix.influence
    with pytest.raises(ValueError, match="min-occurrences"):
        select_by_pairs(pairs, influence, -1.0, 0, 30)
    with pytest.raises(ValueError, match="max-exclusions"):
        select_by_pairs(pairs, influence, -1.0, 1, 0)
