"""Aggregating demo seeds: pooled rates, means and 95% intervals worked by hand."""
from __future__ import annotations

import math

import pytest

from pipeline.multi_seed import aggregate, oracle_share
from training.verdict import mean_interval as mean_ci


def seed_result(seed: int, caught: int, planted: int, listed: int, baseline: float, retrain: float) -> dict:
    detection = {"listed": listed, "planted_in_train": 3, "mislabeled_in_train": planted, "caught": caught,
                 "caught_mislabeled": caught, "by_kind": {"mislabel-far": [caught, planted]},
                 "far_suggested": [caught, caught]}
    holdout = {key: {"clean_pairwise_accuracy": acc} for key, acc in (("baseline", baseline), ("exclude", retrain),
                                                                     ("oracle", baseline + 0.1))}
    config = {"generator": "demo", "takes": 12, "frequency": "500hz", "mislabel_rate": 0.1, "faults": ["clip"]}
    return {"seed": seed, "config": config, "training_seeds": [seed, seed + 1000],
            "lists": {"tutorial": [], "default": []}, "detection": {"tutorial": detection, "default": detection},
            "holdout": holdout}


def test_mean_ci_by_hand():
    m, sd, half = mean_ci([0.10, -0.05, 0.00, None, float("nan")])
    assert m == pytest.approx(0.05 / 3)
    assert sd == pytest.approx(math.sqrt(((0.10 - m) ** 2 + (-0.05 - m) ** 2 + m ** 2) / 2))
    assert half == pytest.approx(4.303 * sd / math.sqrt(3))  # t(0.975, 2 degrees of freedom)
    assert mean_ci([0.25]) == (0.25, 0.0, float("inf"))
    assert all(math.isnan(x) for x in mean_ci([float("nan")]))


def test_aggregate_by_hand():
    results = [
        seed_result(0, caught=1, planted=2, listed=3, baseline=0.80, retrain=0.90),
        seed_result(1, caught=0, planted=0, listed=7, baseline=0.75, retrain=0.70),
        seed_result(2, caught=2, planted=2, listed=4, baseline=0.80, retrain=0.80),
    ]
    lines, summary = aggregate(results)
    assert summary["seeds"] == [0, 1, 2]
    det = summary["detection"]["tutorial"]
    # Pooled: 3 of the 4 planted mislabels; the worst seed with any caught 1 of 2; seed 1 has none (not counted).
    assert det["mislabels"] == [3, 4] and det["mislabel_recall"] == 0.75 and det["worst_seed_recall"] == 0.5
    assert det["precision"] == pytest.approx(3 / 14)
    # Lists of 3, 7 and 4 against twice the 3 planted faults: seeds 0 and 2.
    assert det["seeds_within_twice"] == 2
    g = summary["gains"]["exclude"]
    assert g["gains"] == pytest.approx([0.10, -0.05, 0.0]) and g["not_worse"] == 2
    assert g["ci95"] == pytest.approx(mean_ci([0.10, -0.05, 0.0])[2]) and g["measurable"] is False
    assert any("(no measurable gain)" in line for line in lines)
    assert any(line.startswith("- The tutorial's command") and "3/4" in line for line in lines)
    # Against the oracle's +0.10 every seed: the mean gain 0.05 / 3 is a sixth of it.
    assert g["share_of_oracle"]["share"] == pytest.approx((0.05 / 3) / 0.1)


def test_oracle_share_and_its_interval():
    share = oracle_share([0.05, 0.05, 0.05, 0.05], [0.1, 0.1, 0.1, 0.1])
    assert share == {"share": pytest.approx(0.5), "low": pytest.approx(0.5), "high": pytest.approx(0.5)}
    spread = oracle_share([0.0, 0.1, 0.05, 0.05], [0.1, 0.1, 0.1, 0.1])
    assert spread["low"] < 0.5 < spread["high"] and spread["share"] == pytest.approx(0.5)


def test_studies_gain_row_gives_no_share_of_an_unmeasurable_oracle_gain():
    from pipeline.studies import _gain_row

    def gain(mean: float, ci95: float, share: float | None = None) -> dict:
        g = {"mean": mean, "ci95": ci95, "measurable": abs(mean) > ci95}
        if share is not None:
            g["share_of_oracle"] = g["share_of_oracle-relabel"] = {"share": share, "low": share - 0.1, "high": share + 0.1}
        return g

    noisy = {"gains": {"exclude": gain(0.001, 0.004, 0.55), "act": gain(0.003, 0.003, 1.32), "random": gain(0.0, 0.001),
                       "oracle": gain(0.001, 0.003), "oracle-relabel": gain(0.002, 0.003)}}
    row = _gain_row(("demo", "500hz", 0.03), noisy)
    assert row[-2:] == ["no measurable oracle gain", "no measurable oracle gain"]
    clear = {"gains": {**noisy["gains"], "oracle": gain(0.04, 0.01), "oracle-relabel": gain(0.05, 0.01)}}
    row = _gain_row(("room", "500hz", 0.2), clear)
    assert row[-2:] == ["0.55 [0.45, 0.65]", "1.32 [1.22, 1.42]"]
    assert row[:3] == ["room", "500hz", "20%"] and row[3] == "+0.001 ± 0.004"
