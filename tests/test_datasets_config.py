"""Which data root a step works on (`resolve_data_root`), and the spectrogram settings' one home."""
from __future__ import annotations

import json

import pytest

from datasets.config import DatasetConfig, SpectrogramParams, resolve_data_root
from utils.constants import DATA_ROOT_ENV, LIST_DATA_ROOT_LINE


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
    with pytest.raises(FileNotFoundError, match=DATA_ROOT_ENV) as exc:
        resolve_data_root()
    assert "names a folder that does not exist" in str(exc.value) and "not set" not in str(exc.value)
    assert str(tmp_path / "missing") in str(exc.value)


def write_list(path, made_from=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"{LIST_DATA_ROOT_LINE}{json.dumps(str(made_from))}\n" if made_from is not None else ""
    path.write_text("# TracIn exclusion list\n" + header + "plastic_deg000_500hz_01\n")
    return path


def test_a_list_brings_its_data_root(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    made, other = tmp_path / "made", tmp_path / "other"
    made.mkdir(), other.mkdir()
    listed = write_list(tmp_path / "anywhere" / "list.txt", made)
    assert resolve_data_root(exclusions_file=listed) == made  # the header's root
    assert resolve_data_root(made, exclusions_file=listed) == made  # the same root given: fine
    with pytest.raises(ValueError) as exc:
        resolve_data_root(other, exclusions_file=listed)
    assert f"made from data root {made}" in str(exc.value) and f"--data-root is {other}" in str(exc.value)
    monkeypatch.setenv(DATA_ROOT_ENV, str(other))
    with pytest.raises(ValueError, match=rf"\${DATA_ROOT_ENV} is {other}"):
        resolve_data_root(exclusions_file=listed)
    monkeypatch.setenv(DATA_ROOT_ENV, str(made))
    assert resolve_data_root(exclusions_file=listed) == made


def test_a_list_without_a_header_root(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    root, other = tmp_path / "root", tmp_path / "other"
    other.mkdir()
    in_exclusions = write_list(root / "exclusions" / "list.txt")
    assert resolve_data_root(exclusions_file=in_exclusions) == root.resolve()  # the folder above exclusions/
    with pytest.raises(ValueError, match="made from data root"):
        resolve_data_root(other, exclusions_file=in_exclusions)
    moved = write_list(root / "exclusions" / "moved.txt", tmp_path / "gone")
    assert resolve_data_root(exclusions_file=moved) == root.resolve()  # its recorded root moved away
    by_hand = write_list(tmp_path / "by_hand.txt")
    assert resolve_data_root(other, exclusions_file=by_hand) == other  # nothing to check against
    stale = write_list(tmp_path / "stale.txt", tmp_path / "gone")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_data_root(exclusions_file=stale)
    assert resolve_data_root(other, exclusions_file=stale) == other


def test_dataset_config_defaults_to_the_spectrogram_params():
    cfg = DatasetConfig(data_root="data")
    assert cfg.spectrogram == SpectrogramParams() and cfg.spectrogram.num_samples == cfg.spectrogram.sample_rate
    assert cfg.resolved_metadata_file.as_posix() == "data/metadata/plastic_500hz_metadata.json"
    assert SpectrogramParams(resample=False).key() != SpectrogramParams().key()  # a cache entry per setting
    with pytest.raises(ValueError, match="unknown frequency"):
        DatasetConfig(data_root="data", frequency="440hz")
