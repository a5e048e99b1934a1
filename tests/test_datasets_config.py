"""Which data root a step works on (`resolve_data_root`), and the spectrogram settings' one home."""
from __future__ import annotations

import pytest

from datasets.config import DatasetConfig, SpectrogramParams, resolve_data_root
from utils.constants import DATA_ROOT_ENV


def test_the_flag_wins_then_the_recorded_root_then_the_folder_above(tmp_path):
    recorded = tmp_path / "trained_on"
    recorded.mkdir()
    inside = tmp_path / "moved" / "checkpoints" / "plastic_500hz_standard"
    assert resolve_data_root(tmp_path / "flag", recorded, inside) == tmp_path / "flag"
    assert resolve_data_root(None, recorded, inside) == recorded
    assert resolve_data_root(None, tmp_path / "gone", inside) == (tmp_path / "moved").resolve()  # the data moved
    assert resolve_data_root(None, None, inside) == (tmp_path / "moved").resolve()  # an older file recorded none


def test_without_anything_the_environment_or_the_demo_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
    assert resolve_data_root() == tmp_path
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=DATA_ROOT_ENV):
        resolve_data_root()


def test_dataset_config_defaults_to_the_spectrogram_params():
    cfg = DatasetConfig(data_root="data")
    assert cfg.spectrogram == SpectrogramParams() and cfg.spectrogram.num_samples == cfg.spectrogram.sample_rate
    assert cfg.resolved_metadata_file.as_posix() == "data/metadata/plastic_500hz_metadata.json"
    assert SpectrogramParams(resample=False).key() != SpectrogramParams().key()  # a cache entry per setting
    with pytest.raises(ValueError, match="unknown frequency"):
        DatasetConfig(data_root="data", frequency="440hz")
