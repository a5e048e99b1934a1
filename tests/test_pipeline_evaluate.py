"""Scoring a run and an exclusion list against the planted faults, with hand-worked answers."""
from __future__ import annotations

import math

import pytest

from pipeline.evaluate import clean_holdout_score, detection_score
from utils.atomic_io import write_json_atomic

FAULTS = {
    "plastic_deg000_500hz_01": {"kind": "mislabel", "stored_angle": 0, "true_angle": 144},
    "plastic_deg036_500hz_02": {"kind": "clip", "stored_angle": 36, "true_angle": 36},
    "plastic_deg072_500hz_03": {"kind": "mislabel", "stored_angle": 72, "true_angle": 180},
}


def test_detection_score_counts_the_actual_ids():
    train = ["plastic_deg000_500hz_01", "plastic_deg036_500hz_02", "plastic_deg108_500hz_05", "plastic_deg144_500hz_06"]
    listed = ["plastic_deg000_500hz_01", "plastic_deg108_500hz_05", "plastic_deg072_500hz_03"]
    score = detection_score(listed, train, FAULTS)
    # deg072_03 is a planted fault but not in the training split: it is no training catch.
    assert (score.planted_in_train, score.mislabeled_in_train) == (2, 1)
    assert score.caught_mislabeled == 1 and score.mislabeled_recall == 1.0
    assert score.recall == 0.5
    assert score.precision == pytest.approx(2 / 3)  # both planted ids on the list count as right
    assert math.isnan(detection_score([], [], FAULTS).precision)


def test_clean_holdout_leaves_out_pairs_with_planted_faults(tmp_path):
    holdout = ["plastic_deg000_500hz_01", "plastic_deg000_500hz_05", "plastic_deg036_500hz_04", "plastic_deg072_500hz_06"]
    # The mislabeled take scores like 144 degrees; the clean ones are ranked perfectly.
    scores = {"plastic_deg000_500hz_01": 4.0, "plastic_deg000_500hz_05": 0.0,
              "plastic_deg036_500hz_04": 1.0, "plastic_deg072_500hz_06": 2.0}
    write_json_atomic(tmp_path / "run.json", {"split": {"train": [], "validation": [], "holdout": holdout}})
    write_json_atomic(tmp_path / "scores.json", scores)
    result = clean_holdout_score(tmp_path, FAULTS)
    assert result.clean_pairs == 3 and result.clean_pairwise_accuracy == 1.0
    # With the fault: pairs (01, 36) and (01, 72) are ranked the wrong way round: 3 of 5 right.
    assert result.pairwise_accuracy == pytest.approx(3 / 5)
