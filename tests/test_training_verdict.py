"""The retrain's verdict on constructed numbers: all three words, the interval, one seed without a verdict."""
from __future__ import annotations

import math

import pytest

from training.verdict import BETTER, SAME, WORSE, Measure, Verdict, mean_interval, resolution_notes, t_975, verdict_word


def test_t_quantiles_and_the_interval_by_hand():
    assert t_975(2) == 4.303 and t_975(40) == pytest.approx(2.021, abs=0.002)
    m, sd, half = mean_interval([0.02, 0.03, 0.04])
    assert m == pytest.approx(0.03) and sd == pytest.approx(0.01) and half == pytest.approx(4.303 * 0.01 / math.sqrt(3))
    assert mean_interval([0.5]) == (0.5, 0.0, float("inf"))


@pytest.mark.parametrize("base, retrain, word", [
    ([0.90, 0.91, 0.89, 0.90], [0.93, 0.94, 0.92, 0.94], BETTER),   # +0.0325 +- 0.008: above 0
    ([0.90, 0.91, 0.89, 0.90], [0.86, 0.88, 0.85, 0.87], WORSE),    # -0.035 +- 0.008: below 0
    ([0.90, 0.91, 0.89, 0.90], [0.92, 0.89, 0.90, 0.90], SAME),     # +0.0025, the interval reaches both sides
])
def test_three_verdicts(base, retrain, word):
    m = Measure("holdout pairwise accuracy", base, retrain)
    assert m.verdict == word
    assert m.differences == pytest.approx([r - b for b, r in zip(base, retrain)])
    lines = Verdict([1, 2, 3, 4], [], [], [m], holdout_pairs=135).lines()
    assert lines[-1].endswith(f"-> {word}")


def test_one_seed_has_a_table_and_no_verdict():
    m = Measure("holdout pairwise accuracy", [0.9], [0.95])
    assert m.verdict is None and verdict_word(0.05, float("inf")) is None
    v = Verdict([7], [], [], [m], holdout_pairs=135)
    assert any("one seed: no verdict" in line for line in v.lines())
    assert resolution_notes(v) == ["one holdout pair is 0.007 of pairwise accuracy (135 holdout pairs)"]
