"""The typed records of step 1: a checkpoint and run.json, written by train.py and read back by attribute;
files of earlier versions (keys missing) still load."""
from __future__ import annotations

import json

import pytest
import torch

from training.checkpoints import load_checkpoint, save_checkpoint
from training.config import TrainConfig
from training.records import CheckpointRecord, Resumed, TrainingRun


def test_a_trained_run_reads_back_by_attribute_and_round_trips(baseline):
    path = baseline / "model_checkpoint_epoch_3.pt"
    raw = torch.load(path, map_location="cpu", weights_only=True)
    ckpt = load_checkpoint(path)
    assert (ckpt.epoch, ckpt.model_class, ckpt.loss_type, ckpt.saved_loss_type) == (3, "SimpleCNNAudioRanker",
                                                                                    "standard", "standard")
    assert isinstance(ckpt.config, TrainConfig) and ckpt.config.epochs == 3 and ckpt.learning_rate > 0
    assert ckpt.split == raw["split"] and ckpt.rng_state is not None and len(ckpt.history) == 3
    # to_dict writes exactly the keys, in the order, and the values train.py wrote.
    again = ckpt.to_dict()
    assert list(again) == list(raw)
    assert again["config"] == raw["config"] and again["history"] == raw["history"]
    assert all(torch.equal(again["model_state"][k], v) for k, v in raw["model_state"].items())

    run = TrainingRun.read(baseline)
    stored = json.loads((baseline / "run.json").read_text())
    assert run.complete is True and run.final_epoch == 3 and run.split == ckpt.split and run.config == ckpt.config
    assert run.to_dict() == stored and list(run.to_dict()) == list(stored)


def test_a_checkpoint_round_trips_through_its_file_with_weights_only(tmp_path):
    record = CheckpointRecord(epoch=2, model_state={"w": torch.arange(3.0)}, model_class="SimpleCNNAudioRanker",
                              model_kwargs={"max_freq_bins": 10}, learning_rate=0.01,
                              config=TrainConfig(frequency="500hz", data_root=tmp_path), seed=4,
                              split={"train": ["a"], "validation": ["b"], "holdout": []}, excluded_ids=["c"])
    save_checkpoint(record, tmp_path / "c.pt")
    back = load_checkpoint(tmp_path / "c.pt")
    assert torch.equal(back.model_state["w"], record.model_state["w"])
    assert (back.epoch, back.learning_rate, back.seed, back.split, back.excluded_ids) == (2, 0.01, 4, record.split, ["c"])
    assert back.config == record.config and back.rng_state is None and back.history is None


def test_an_older_checkpoint_loads_with_defaults_and_a_foreign_one_is_one_line(tmp_path):
    old = {"model_state": {}, "epoch": 5, "model_class": "SimpleCNNAudioRanker", "model_kwargs": {},
           "config": {"frequency": "500hz", "loss_type": "ghm"}}  # no loss_type of its own, no learning rate
    record = CheckpointRecord.from_dict(old)
    assert record.saved_loss_type == "ghm" and record.learning_rate is None and record.excluded_ids == []
    assert CheckpointRecord.from_dict({**old, "config": {"epochs": 3}}).config is None  # one this version cannot read
    with pytest.raises(ValueError, match=r"x\.pt: not a checkpoint of this toolkit \(missing model_class, model_kwargs\)"):
        CheckpointRecord.from_dict({"model_state": {}, "epoch": 1}, "x.pt")
    with pytest.raises(ValueError, match="missing model_state, epoch"):
        CheckpointRecord.from_dict([1, 2])


def test_run_json_of_an_older_version_and_a_resumed_run(tmp_path):
    old = TrainingRun.from_dict({"config": {"frequency": "1000hz"}, "split": {"train": ["a"]}})
    assert old.complete is None and old.excluded_ids == [] and old.relabeled == {} and old.config.frequency == "1000hz"
    run = TrainingRun(config=TrainConfig(frequency="500hz", data_root=tmp_path), seed=1, split={"train": ["a"]},
                      complete=False, resumed=[Resumed(2, "2026-01-01T00:00:00")])
    stored = json.loads(json.dumps(run.to_dict()))
    assert stored["resumed"] == [{"after_epoch": 2, "at": "2026-01-01T00:00:00"}] and "final_epoch" not in stored
    assert TrainingRun.from_dict(stored).to_dict() == stored
    (tmp_path / "run.json").write_text("[1]")
    with pytest.raises(ValueError, match="holds no JSON object"):
        TrainingRun.read(tmp_path)
    with pytest.raises(FileNotFoundError):
        TrainingRun.read(tmp_path / "missing")
