"""The harmful-pair rule, decided in one place: its consumers (the nested JSON, compute's summary,
the `pairs` criterion) agree on which training pairs are harmful."""
import json

import numpy as np
import pytest

from exclusion.rules import rank_harmful_pairs
from influence.config import DEFAULT_MIN_OCCURRENCES, DEFAULT_THRESHOLD
from influence.harm import LowScores, describe_rule
from influence.io import save_influence

LOW = np.array([[-6.0, -5.0, -4.0, -3.5, -3.1, 0.0],  # 5 below -3: harmful
                [-6.0, -5.0, -4.0, -3.5, -3.0, -2.0],  # -3.0 is not below -3
                [-9.0, -9.0, -9.0, -9.0, 1.0, 2.0],  # 4 below
                [-3.2, -3.2, -3.2, -3.2, -3.2, -3.2]])  # 6 below


def scores(low=LOW, columns=40):
    return LowScores(low, np.tile(np.arange(low.shape[1]), (len(low), 1)), low.mean(axis=1), columns)


def test_below_the_threshold_on_at_least_min_occurrences_validation_pairs():
    s = scores()
    assert (DEFAULT_THRESHOLD, DEFAULT_MIN_OCCURRENCES) == (-3.0, 5)
    np.testing.assert_array_equal(s.occurrences(-3.0), [5, 4, 4, 6])
    np.testing.assert_array_equal(s.harmful(), [True, False, False, True])
    np.testing.assert_array_equal(s.harmful(-3.0, 4), [True, True, True, True])
    np.testing.assert_array_equal(s.harmful(-5.5, 1), [True, True, True, False])
    # The m-th lowest score decides: below the threshold exactly for the harmful rows.
    deciding, m = s.deciding_scores()
    assert m == 5 and list(deciding < -3.0) == list(s.harmful())
    assert s.deciding_scores(9) == (pytest.approx(LOW[:, 5]), 6)  # fewer kept: the last one
    assert describe_rule() == "below -3 on 5 or more validation pairs"


def test_harmful_cells_are_the_kept_scores_below_the_threshold():
    cells = dict(scores().harmful_cells())
    assert sorted(cells) == [0, 3]
    assert cells[0] == [(0, -6.0), (1, -5.0), (2, -4.0), (3, -3.5), (4, -3.1)]
    assert len(cells[3]) == 6


def test_a_min_occurrences_the_kept_scores_cannot_decide_is_refused():
    scores().check_min_occurrences(6)
    with pytest.raises(ValueError, match="--keep-lowest 7"):
        scores().check_min_occurrences(7)
    scores(columns=6).check_min_occurrences(7)  # every score is kept: 7 is decided (never reached)


def test_every_consumer_finds_the_same_harmful_pairs(tmp_path, scored):
    data = scored.data()
    data.influence_z = None
    path = tmp_path / "plastic_500hz_influence_metadata.json"
    save_influence(path, data)
    in_json = set(json.loads(path.read_text()))
    expected = {data.pair_ids(data.train_pairs[p : p + 1])[0] for p in np.flatnonzero(data.pair_scores().harmful())}
    ranked = rank_harmful_pairs(data.pair_scores(), DEFAULT_THRESHOLD, DEFAULT_MIN_OCCURRENCES)
    assert in_json == expected == set(data.pair_ids(data.train_pairs[ranked.index]))
    assert len(expected) == 14  # the hub's 12 pairs and the two clean pairs of `scored`
