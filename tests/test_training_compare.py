"""Baseline versus retrain on the same holdout, worked by hand."""
from __future__ import annotations

import json

import pytest

from training.compare import baseline_dir, compare_runs
from training.config import TrainConfig

A, B, C, T = "plastic_deg000_500hz_01", "plastic_deg036_500hz_01", "plastic_deg072_500hz_01", "plastic_deg000_500hz_02"
SPLIT = {"train": [T], "validation": [], "holdout": [A, B, C]}


def run(folder, scores, excluded=(), split=SPLIT, epochs=3):
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"split": split, "excluded_ids": list(excluded),
                                                 "config": {"frequency": "500hz", "epochs": epochs}}))
    (folder / "scores.json").write_text(json.dumps(scores))
    return folder


def test_each_run_on_its_own_holdout_and_both_on_the_shared_pairs(tmp_path):
    # Baseline: A 0, B 2, C 1 -> (A,B) right, (A,C) right, (B,C) wrong: 2/3; Spearman of (0, 2, 1) with angle: 0.5.
    base = run(tmp_path / "base", {A: 0.0, B: 2.0, C: 1.0, T: 0.0})
    # The retrain's list also removed holdout recording C: its own holdout and the shared one are A and B.
    new = run(tmp_path / "new", {A: 0.0, B: 1.0, C: 5.0, T: 0.0}, excluded=[C], epochs=4)
    cmp = compare_runs(base, new)
    rows = {what: (b, n) for what, b, n, _ in cmp.rows}
    assert rows["holdout pairwise accuracy"] == pytest.approx((2 / 3, 1.0))
    assert rows["holdout Spearman"] == pytest.approx((0.5, 1.0))
    assert rows["shared holdout pairs: pairwise accuracy"] == pytest.approx((1.0, 1.0))
    assert rows["shared holdout recordings: Spearman"] == pytest.approx((1.0, 1.0))
    text = "\n".join(cmp.lines())
    assert "baseline base vs this retrain" in text and "+0.333" in text and "1 pairs both runs kept" in text
    assert "differ in epochs" in text


def test_no_table_without_a_baseline_or_with_another_split(tmp_path):
    new = run(tmp_path / "new", {A: 0.0, B: 1.0, C: 2.0, T: 0.0})
    assert "no finished baseline run" in compare_runs(tmp_path / "none", new).lines()[0]
    other = run(tmp_path / "other", {A: 0.0, B: 1.0, C: 2.0, T: 0.0}, split={**SPLIT, "holdout": [A, B]})
    assert "another split" in compare_runs(other, new).lines()[0]


def test_the_baseline_is_the_same_run_without_the_list(tmp_path):
    cfg = TrainConfig(frequency="500hz", data_root=tmp_path, exclusions_file=tmp_path / "x.txt", run_name="mine",
                      loss_type="ghm")
    assert baseline_dir(cfg) == tmp_path / "checkpoints" / "plastic_500hz_ghm"
