"""The influence run file as a typed record: what compute wrote reads back by attribute and writes back the
same; run files of older versions or other tools load, what they lack reading as None."""
from __future__ import annotations

import json

import pytest

from compute_tracin_influence import main as compute_main
from influence.config import InfluenceConfig
from influence.records import SCALE, ColumnsScored, InfluenceRun, InfluenceSummary
from training.config import TrainConfig


@pytest.fixture(scope="module")
def run_file(baseline, tmp_path_factory):
    meta = tmp_path_factory.mktemp("records") / "metadata"
    assert compute_main(["--frequency", "500hz", "--checkpoint-dir", str(baseline), "--metadata-dir", str(meta),
                         "--compute-influence", "--device", "cpu", "--no-progress"]) == 0
    return meta / "plastic_500hz_influence_run.json"


def test_what_compute_wrote_round_trips(run_file):
    stored = json.loads(run_file.read_text())
    run = InfluenceRun.read(run_file)
    assert run.to_dict() == stored and list(run.to_dict()) == list(stored)
    assert len(run.fingerprint) == 16 and run.scale == SCALE and run.measurement == "margin"
    assert isinstance(run.config, InfluenceConfig) and isinstance(run.run_config, TrainConfig)
    assert [c.epoch for c in run.checkpoints] == [2, 3] and all(len(c.sha256) == 64 for c in run.checkpoints)
    assert run.validation_pairs_scored == ColumnsScored(stored["summary"]["validation_pairs"],
                                                        stored["summary"]["validation_pairs"], False)
    assert run.summary.quantile_rank == 5 and set(run.summary.quantiles) == {"0", "0.01", "0.05", "0.25", "0.5"}
    assert run.nested_json == "every score" and run.influence_json.file == "plastic_500hz_influence_metadata.json"
    assert 0 < run.summary.seconds_tracin <= run.summary.seconds  # TracIn's own time, within the whole run's


def test_older_or_foreign_run_files_read_as_far_as_they_go(tmp_path):
    assert InfluenceRun.from_dict(None) == InfluenceRun() == InfluenceRun.read(tmp_path / "missing.json")
    odd = InfluenceRun.from_dict({"fingerprint": 3, "seed": True, "config": {"material": "x"}, "checkpoints": [{"eta": 1},
                                  {"epoch": 4, "eta": "fast"}], "projection": {"dim": 64}, "summary": {"train_pairs": 1}})
    assert odd.fingerprint is None and odd.seed is None and odd.config is None and odd.summary is None
    assert [(c.epoch, c.eta) for c in odd.checkpoints] == [(4, None)] and odd.projection_dim == 64
    assert odd.to_dict()["projection"] == {"dim": 64, "kind": "CountSketch"}


def test_the_summary_names_its_quantiles_by_their_rank():
    summary = InfluenceSummary(10, 4, 5, 1, 0, harmful_pairs=2, quantile_rank=3, quantiles={"0.5": -1.0}, seconds=1.5,
                               seconds_tracin=0.75)
    stored = summary.to_dict()
    assert stored["quantiles_of_each_pairs_3th_lowest_z"] == {"0.5": -1.0} and stored["harmful_pairs_at_default_rule"] == 2
    assert (stored["seconds"], stored["seconds_tracin"]) == (1.5, 0.75)
    assert InfluenceSummary.from_dict(stored) == summary
    without_pairs = InfluenceSummary(10, 4, 5, 1, 0).to_dict()  # --compute-self-influence only
    assert "harmful_pairs_at_default_rule" not in without_pairs and InfluenceSummary.from_dict(without_pairs).quantiles is None
