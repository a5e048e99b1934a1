"""The demo pipeline end to end on a tiny data set, and its failure message."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.demo import DemoConfig, main, run_demo
from pipeline.multi_seed import aggregate
from pipeline.multi_seed import main as multi_seed_main


def test_demo_runs_every_step_and_reports(tmp_path):
    cfg = DemoConfig(output_dir=tmp_path, seed=1, takes=4, mislabel=2, clip=1, epochs=3, checkpoint_interval=1,
                     expected_fault_rate=0.2, compare_criteria=False)
    results = run_demo(cfg)
    seed_dir = tmp_path / "seed_1"
    truth = json.loads((seed_dir / "truth.json").read_text())
    assert not (seed_dir / "data" / "truth.json").exists()
    assert set(results["faults"]) == set(truth["faults"])
    listed = [ln.strip() for ln in (seed_dir / "data/exclusions/plastic_500hz_tracin_exclusions.txt").read_text().splitlines()
              if ln.strip() and not ln.startswith("#")]
    # Tiny data may hold no self-influence outlier: the list may be empty, never too long.
    assert listed == results["lists"]["self-influence"] and len(listed) <= results["max_exclusions"]
    train_ids = set(json.loads((seed_dir / "data/checkpoints/plastic_500hz_standard/run.json").read_text())["split"]["train"])
    assert set(listed) <= train_ids
    oracle = [ln for ln in (seed_dir / "controls/oracle.txt").read_text().splitlines() if not ln.startswith("#")]
    assert sorted(oracle) == sorted(s for s in truth["faults"] if s in train_ids)
    for run in ("baseline", "tracin_self-influence", "random", "oracle"):
        assert 0.0 <= results["holdout"][run]["clean_pairwise_accuracy"] <= 1.0
    for run, ids in (("retrain_tracin_self-influence", listed), ("retrain_oracle", oracle)):
        excluded = json.loads((seed_dir / f"data/checkpoints/{run}/run.json").read_text())["excluded_ids"]
        assert excluded == sorted(ids)
    report = (seed_dir / "report.md").read_text()
    for heading in ("Where the planted faults landed", "Detection", "Holdout ranking quality"):
        assert heading in report
    for png in ("holdout_accuracy.png", "self_influence.png", "excluded_recordings.png"):
        assert (seed_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Aggregation across seeds (the same seed twice is enough to check the arithmetic).
    lines, summary = aggregate([results, results])
    recall = results["detection"]["self-influence"]["mislabeled_recall"]
    # The mean of one value twice is that value; NaN (no mislabeled take in the training split) stays NaN.
    assert summary["mislabeled_recall_mean"] == pytest.approx(recall, nan_ok=True)
    assert summary["seeds"] == [1, 1] and summary["criterion"] == "self-influence"
    assert any("± 0.000" in ln for ln in lines)
    assert multi_seed_main(["--seeds", "1", "--output-dir", str(tmp_path), "--from-results"]) == 0
    assert (tmp_path / "multi_seed_report.md").exists() and (tmp_path / "multi_seed_accuracy.png").exists()


def test_failed_step_is_one_line(tmp_path, capsys):
    # Too few takes for 5 planted faults of 2 kinds in 6 x 1 recordings: the generator refuses.
    code = main(["--output-dir", str(tmp_path), "--takes", "1", "--mislabel", "6", "--clip", "2", "--no-compare"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "generate recordings" in err[0]
    assert Path(err[0].split("[log: ")[1].rstrip("]")).exists()
