"""`AudioSpectrumDataset` on real files: exclusions applied, missing lists, folders and recordings."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from datasets import AudioSpectrumDataset, DatasetConfig

HAND_WRITTEN = (
    "\ufeff# exclusions reviewed by hand\r\n"
    "   plastic_deg036_500hz_01   \r\n"
    "plastic_deg072_500hz_02  # door slam\r\n"
    "# plastic_deg000_500hz_01\r\n"
    "plastic_deg108_500hz_2\r\n"
)


def dataset(root: Path, **kw) -> AudioSpectrumDataset:
    return AudioSpectrumDataset(DatasetConfig(data_root=root, **kw), progress=False)


def test_hand_written_exclusion_file_applies_and_warns_about_misspelling(tmp_path, caplog, make_data):
    root = make_data(tmp_path / "data", takes=2)
    excl = tmp_path / "excl.txt"
    excl.write_bytes(HAND_WRITTEN.encode("utf-8"))
    with caplog.at_level(logging.WARNING):
        ds = dataset(root, exclusions_file=excl)
    assert ds.excluded_ids == ["plastic_deg036_500hz_01", "plastic_deg072_500hz_02"]
    assert ds.unknown_exclusions == ["plastic_deg108_500hz_2"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("'plastic_deg108_500hz_2'" in w and "closest: 'plastic_deg108_500hz_02'" in w for w in warnings), warnings
    # Every other recording is valid, the commented-out one included.
    valid = [ds.sample_ids[i] for i in ds.valid_indices]
    assert len(valid) == 10
    assert "plastic_deg000_500hz_01" in valid
    assert not set(valid) & set(ds.excluded_ids)
    assert len(ds) == 10 and {ds[k][2] for k in range(len(ds))} == set(valid)


def test_missing_exclusions_file_is_an_error(tmp_path, make_data):
    root = make_data(tmp_path / "data", takes=1)
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        dataset(root, exclusions_file=missing)


def test_missing_root_or_no_recordings_shows_the_searched_pattern(tmp_path, make_data):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as exc:
        dataset(missing)
    assert f"{missing}/deg*/plastic/plastic_deg*_500hz_*.wav" in str(exc.value)
    root = make_data(tmp_path / "data", takes=1, angles=(0, 36))
    with pytest.raises(FileNotFoundError) as exc:
        dataset(root, frequency="3000hz")
    assert f"{root}/deg*/plastic/plastic_deg*_3000hz_*.wav" in str(exc.value)
    with pytest.raises(FileNotFoundError) as exc:
        dataset(root, material="wood")
    assert f"{root}/deg*/wood/wood_deg*_500hz_*.wav" in str(exc.value)
