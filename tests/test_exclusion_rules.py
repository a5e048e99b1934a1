"""The exclusion rules on small inputs with answers worked out by hand."""
import numpy as np
import pytest

from exclusion.misfit import first_ranking_checkpoint, misfit
from exclusion.config import RuleParams
from exclusion.rules import RuleInputs, rank_harmful_pairs, select_exclusions
from influence.harm import LowScores
from influence.stats import MAD_SCALE

N = 12
IDS = [f"r{k:02d}" for k in range(N)]
PAIRS = np.array([(a, b) for a in range(N) for b in range(a + 1, N)])
HARMFUL = {tuple(p) for p in PAIRS.tolist() if 0 in p} | {(1, 2), (3, 4)}


def low_scores(harmful: set, rows: np.ndarray = PAIRS, k: int = 6) -> LowScores:
    """Harmful rows have six kept scores of -5 (mean -2), the others six of 0 (mean 0.5)."""
    low = np.array([[-5.0] * k if tuple(p) in harmful else [0.0] * k for p in rows.tolist()])
    mean = np.array([-2.0 if tuple(p) in harmful else 0.5 for p in rows.tolist()])
    return LowScores(low, np.tile(np.arange(k), (len(rows), 1)), mean, columns=40)


def inputs(harmful=HARMFUL, checkpoint_scores=None, angles=None) -> RuleInputs:
    return RuleInputs(
        recording_ids=IDS,
        angles=np.zeros(N) if angles is None else np.asarray(angles, dtype=float),
        train_pairs=PAIRS,
        pair_scores=low_scores(harmful),
        recording_scores=LowScores(np.zeros((N, 3)), np.zeros((N, 3), dtype=int), np.zeros(N), 40),
        self_influence=np.array([1.0, 1.1, 0.9, 1.0, 1.2, 0.8, 1.0, 1.0, 1.05, 0.95, 1.0, 9.0]),
        checkpoint_scores=checkpoint_scores,
    )


def test_harmful_pairs_are_ranked_by_occurrences_then_mean():
    scores = LowScores(np.array([[-4.0, -1.0], [-5.0, -4.0], [-6.0, -3.5], [0.0, 0.0]]), np.zeros((4, 2), dtype=int),
                       np.array([-1.0, -0.5, -0.7, 0.0]), 10)
    ranked = rank_harmful_pairs(scores, -3.0, 1)
    assert ranked.index.tolist() == [2, 1, 0]  # two below -3 (mean -0.7, then -0.5), then one
    assert ranked.occurrences.tolist() == [2, 2, 1]
    assert ranked.below_sum.tolist() == [-9.5, -9.0, -4.0]


def test_explaining_away_lists_the_hub_and_not_its_partners():
    # Harmful-pair counts: r00 11, r01..r04 2, r05..r11 1 -> median 1, MAD 0 (floored to 1 pair):
    # r00 is (11 - 1) / 1.4826 = 6.7 robust SD out; once its pairs are explained, r01..r04 have 1 each.
    sel = select_exclusions("pairs", inputs(), RuleParams(-3.0, 5, 30, True))
    assert sel.ids == ["r00"]
    assert sel.qualifying == 13
    e = sel.exclusions[0]
    assert e.harmful_pairs == 11 and e.rule == "pairs"
    assert e.strength == pytest.approx(10 / MAD_SCALE) and e.numbers["pairs"] == pytest.approx(10 / MAD_SCALE)
    assert e.negative_occurrences == 6 and e.average_influence == -5.0  # kept scores below -3 fall on pairs 0..5
    assert sel.evidence["pairs"][0] == pytest.approx(10 / MAD_SCALE)
    # Without --consider-both-samples each harmful pair counts for its more harmful recording:
    # r00 gets 11, (r01, r02) goes to r01 (tie on count and sum: the smaller id), (r03, r04) to r03.
    assert select_exclusions("pairs", inputs(), RuleParams(-3.0, 5, 30)).ids == ["r00"]


def test_a_second_bad_recording_and_the_cap_and_forbidden_ids():
    harmful = HARMFUL | {tuple(p) for p in PAIRS.tolist() if 11 in p}
    assert select_exclusions("pairs", inputs(harmful), RuleParams(-3.0, 5, 30, True)).ids == ["r00", "r11"]
    assert select_exclusions("pairs", inputs(harmful), RuleParams(-3.0, 5, 1, True)).ids == ["r00"]
    # A recording commented out by hand is never listed and still explains its pairs away.
    sel = select_exclusions("pairs", inputs(harmful), RuleParams(-3.0, 5, 30, True, frozenset({"r00"})))
    assert sel.ids == ["r11"] and sel.vetoed == ["r00"]


def test_nothing_qualifies_and_min_occurrences_beyond_the_kept_scores():
    nothing = select_exclusions("pairs", inputs(), RuleParams(-100.0, 5, 30, True))
    assert nothing.ids == [] and nothing.qualifying == 0
    with pytest.raises(ValueError, match="--keep-lowest 7"):
        select_exclusions("pairs", inputs(), RuleParams(-3.0, 7, 30))


MISFIT_ANGLES = [0] * 6 + [36] * 6
# r03 is stored at 0 but scores like the 36-degree recordings; everyone else sits at their angle.
ROW = [0.0, 0.1, -0.1, 3.0, 0.05, -0.05, 3.0, 3.1, 2.9, 3.05, 2.95, 3.0]
MISFIT_SCORES = np.array([ROW] * 3)


def test_misfit_and_suggested_angle_by_hand():
    result = misfit(MISFIT_SCORES, MISFIT_ANGLES)
    # Leave-one-out medians: r03 against (0, 0.1, -0.1, 0.05, -0.05) -> 0.0, gap 3.0;
    # r00 against (0.1, -0.1, 3.0, 0.05, -0.05) -> 0.05, gap 0.05.
    assert result.suggested_angle.tolist() == [0, 0, 0, 36, 0, 0] + [36] * 6
    assert np.argmax(result.z) == 3 and result.z[3] > 10
    assert result.lands_at.shape == (3, 12)


def test_the_suggested_angle_comes_from_the_first_checkpoint_that_ranks_the_angles():
    fitted = list(ROW)
    fitted[3] = 0.02
    unranked = [1.0] * 12  # an untrained model: every angle's median the same
    scores = np.array([unranked, ROW] + [fitted] * 3)
    # Checkpoint 0 does not rank the angles; checkpoint 1 does, and r03 lands at 36 there;
    # from checkpoint 2 on the model has fitted r03 to its stored 0.
    assert first_ranking_checkpoint(scores, np.array(MISFIT_ANGLES, dtype=float)) == 1
    assert misfit(scores, MISFIT_ANGLES).suggested_angle[3] == 36
    # No checkpoint ranks them: the last one.
    assert first_ranking_checkpoint(np.array([unranked] * 2), np.array(MISFIT_ANGLES, dtype=float)) == 1


def test_criteria_misfit_self_influence_and_combined():
    data = inputs(checkpoint_scores=MISFIT_SCORES, angles=MISFIT_ANGLES)
    assert select_exclusions("misfit", data, RuleParams(-3.0, 5, 30)).ids == ["r03"]
    # Self-influence: r11's 9.0 is far above median 1.0 + 3 x 1.4826 x MAD 0.05.
    si = select_exclusions("self-influence", data, RuleParams(-3.0, 5, 30))
    assert si.ids == ["r11"] and si.cut == pytest.approx(1.0 + 3 * MAD_SCALE * 0.05)
    combined = select_exclusions("combined", data, RuleParams(-3.0, 5, 30, True))
    assert sorted(combined.ids) == ["r00", "r03"]
    rules = {e.sample_id: e.rule for e in combined.exclusions}
    assert rules == {"r00": "pairs", "r03": "misfit"}
    assert {e.sample_id: e.suggested_angle for e in combined.exclusions} == {"r00": 0, "r03": 36}
    both = select_exclusions("combined", inputs(HARMFUL | {tuple(p) for p in PAIRS.tolist() if 3 in p},
                                                MISFIT_SCORES, MISFIT_ANGLES), RuleParams(-3.0, 5, 30, True))
    assert both.exclusions[0].sample_id == "r03" and both.exclusions[0].rule == "pairs+misfit"  # both parts come first
    with pytest.raises(ValueError, match="scores at each checkpoint"):
        select_exclusions("misfit", inputs(), RuleParams(-3.0, 5, 30))


def test_the_last_training_recording_of_an_angle_stays():
    # Angles: r00 alone at 36 degrees; the hub r00 would empty its angle, so it stays (and says so).
    data = inputs(angles=[36] + [0] * (N - 1))
    sel = select_exclusions("pairs", data, RuleParams(-3.0, 5, 30, True))
    assert sel.ids == [] and sel.kept_for_angle == ["r00"]


def test_the_cut_grows_with_the_recordings_tested():
    from exclusion.rules import expected_false, size_cut

    assert size_cut(72) == 3.0  # the tutorial's 3 robust SD at the demo's size
    assert size_cut(1000) == pytest.approx(3.72, abs=0.01) and size_cut(10_000) == pytest.approx(4.26, abs=0.01)
    for n in (1000, 10_000, 100_000):
        assert expected_false(n, size_cut(n)) == pytest.approx(0.1, rel=1e-6)
    sel = select_exclusions("pairs", inputs(), RuleParams(-3.0, 5, 30, True))
    assert sel.cut == 3.0 and sel.expected_false == pytest.approx(N * (1 - 0.99865), rel=1e-3)
