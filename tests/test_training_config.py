"""`TrainConfig`, the typed run configuration: JSON round trip, old runs, run folder, data set."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from datasets.config import DatasetConfig, SpectrogramParams
from losses.config import DEFAULT_MARGIN
from training.config import TrainConfig


def test_round_trip_through_json_keeps_the_types(tmp_path):
    cfg = TrainConfig(frequency="1000hz", material="box", data_root=tmp_path / "data", exclusions_file=tmp_path / "x.txt",
                      split_fractions=(0.6, 0.2, 0.2), n_fft=1024, run_name="mine")
    saved = json.loads(json.dumps(cfg.to_dict()))  # strict JSON, as run.json and checkpoints hold it
    assert saved["data_root"] == str((tmp_path / "data").resolve()) and saved["split_fractions"] == [0.6, 0.2, 0.2]
    again = TrainConfig.from_dict(saved)
    assert again == replace(cfg, data_root=(tmp_path / "data").resolve())
    assert isinstance(again.data_root, Path) and isinstance(again.exclusions_file, Path)
    assert again.split_fractions == (0.6, 0.2, 0.2)


def test_an_older_configuration_takes_the_defaults_and_unknown_keys_are_ignored():
    old = {"frequency": "500hz", "material": "plastic", "data_root": "/somewhere/data", "loss_type": "standard",
           "a_key_from_the_future": 1}
    cfg = TrainConfig.from_dict(old)
    assert cfg.data_root == Path("/somewhere/data") and cfg.margin == DEFAULT_MARGIN
    assert cfg.spectrogram_params == SpectrogramParams()
    with pytest.raises(ValueError, match="frequency"):
        TrainConfig.from_dict({"material": "plastic"})


def test_the_baseline_checkpoint_holds_the_configuration_of_run_json(baseline):
    run = json.loads((baseline / "run.json").read_text())
    ckpt = torch.load(baseline / "model_checkpoint_epoch_3.pt", map_location="cpu", weights_only=True)
    assert ckpt["config"] == run["config"]
    cfg = TrainConfig.from_dict(ckpt["config"])
    assert cfg.to_dict() == run["config"]
    assert cfg.run_dir == baseline.resolve()


def test_run_folder_names(tmp_path):
    cfg = TrainConfig(frequency="500hz", data_root=tmp_path)
    assert cfg.run_dir == tmp_path / "checkpoints" / "plastic_500hz_standard"
    listed = replace(cfg, loss_type="ghm", exclusions_file=tmp_path / "round1.txt")
    assert listed.run_dir.name == "plastic_500hz_ghm_excl_round1"
    assert replace(listed, run_name="retrain").run_dir == tmp_path / "checkpoints" / "retrain"


def test_dataset_config_carries_the_spectrogram_settings(tmp_path):
    cfg = TrainConfig(frequency="3000hz", data_root=tmp_path, n_fft=512, hop_length=128, exclusions_file=tmp_path / "x.txt")
    dataset = cfg.dataset_config()
    assert dataset == DatasetConfig(data_root=tmp_path, frequency="3000hz", exclusions_file=tmp_path / "x.txt",
                                    spectrogram=SpectrogramParams(n_fft=512, hop_length=128))
    other = cfg.dataset_config(data_root=tmp_path / "moved", exclusions_file=None)
    assert other.data_root == tmp_path / "moved" and other.exclusions_file is None and other.spectrogram.n_fft == 512
