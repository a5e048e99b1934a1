"""Aggregating demo seeds: means and spreads worked by hand, NaN seeds left out of a mean."""
from __future__ import annotations

import math

import pytest

from pipeline.multi_seed import aggregate, mean_std


def seed_result(seed: int, recall: float, listed: int, baseline: float, retrain: float) -> dict:
    detection = {"listed": listed, "planted_in_train": 2, "mislabeled_in_train": 0 if math.isnan(recall) else 2,
                 "caught": 1, "caught_mislabeled": 0 if math.isnan(recall) else round(2 * recall),
                 "recall": 0.5, "mislabeled_recall": recall, "precision": 1 / listed}
    holdout = {key: {"clean_pairwise_accuracy": acc, "clean_spearman": acc, "pairwise_accuracy": acc, "spearman": acc}
               for key, acc in (("baseline", baseline), ("tracin_self-influence", retrain))}
    return {"seed": seed, "config": {"criterion": "self-influence"}, "detection": {"self-influence": detection},
            "holdout": holdout}


def test_mean_std_leaves_out_nan_and_none():
    assert mean_std([0.5, float("nan"), 1.0, None]) == pytest.approx((0.75, math.sqrt(0.125)))
    assert mean_std([0.25]) == (0.25, 0.0)
    assert all(math.isnan(x) for x in mean_std([float("nan")]))


def test_aggregate_by_hand():
    results = [
        seed_result(0, recall=0.5, listed=3, baseline=0.80, retrain=0.90),
        seed_result(1, recall=float("nan"), listed=5, baseline=0.75, retrain=0.70),
        seed_result(2, recall=1.0, listed=4, baseline=0.80, retrain=0.80),
    ]
    lines, summary = aggregate(results)
    assert summary["seeds"] == [0, 1, 2]
    # Recall of the seeds that had mislabeled training takes: (0.5 + 1.0) / 2.
    assert summary["mislabeled_recall_mean"] == pytest.approx(0.75)
    # Gains +0.10, -0.05, 0.00: mean 0.05 / 3; the retrain is not worse in seeds 0 and 2.
    assert summary["clean_accuracy_gain_mean"] == pytest.approx(0.05 / 3)
    assert summary["seeds_not_worse"] == 2
    # Lists of 3, 5 and 4 against twice the 2 planted faults: seeds 0 and 2.
    assert summary["lists_within_twice_planted"] == 2
    # Standard deviation (ddof 1) of 0.5 and 1.0: sqrt(0.125) = 0.354.
    assert any("0.75 ± 0.35" in line for line in lines)
