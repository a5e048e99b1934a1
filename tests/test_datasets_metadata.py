"""The sample metadata file: every recording registered, user keys kept, malformed files left alone."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from datasets import AudioSpectrumDataset, DatasetConfig
from datasets.sample_id import SampleId


def sid(angle: int, take: int) -> str:
    return str(SampleId.of("plastic", angle, "500hz", take))


def dataset(root: Path, **kw) -> AudioSpectrumDataset:
    return AudioSpectrumDataset(DatasetConfig(data_root=root, **kw), progress=False)


def test_metadata_registers_every_recording_and_keeps_user_keys(tmp_path, make_data):
    root = make_data(tmp_path / "data", takes=2, angles=(0, 36))
    ds = dataset(root)
    path = ds.config.resolved_metadata_file
    assert path == root / "metadata" / "plastic_500hz_metadata.json"
    records = json.loads(path.read_text())
    assert sorted(records) == ds.sample_ids
    assert records[sid(36, 2)] == {
        "id": sid(36, 2),
        "file_path": "deg036/plastic/plastic_deg036_500hz_02.wav",
        "angle": 36,
        "material": "plastic",
        "frequency": "500hz",
        "seq_num": 2,
        "excluded": False,
        "notes": "",
    }
    # Keys a user wrote by hand survive a re-registration, and so do their notes and exclusions.
    records[sid(0, 1)]["listened"] = "yes, hum at 50 Hz"
    records[sid(0, 1)]["notes"] = "door slam at 0.4 s"
    records[sid(0, 2)]["excluded"] = True
    path.write_text(json.dumps(records, indent=1))
    dataset(root)
    again = json.loads(path.read_text())
    assert again[sid(0, 1)]["listened"] == "yes, hum at 50 Hz"
    assert again[sid(0, 1)]["notes"] == "door slam at 0.4 s"
    assert again[sid(0, 2)]["excluded"] is True
    assert again[sid(36, 1)] == records[sid(36, 1)]


@pytest.mark.parametrize("content", ['{"plastic_deg000_500hz_01": {"id": 1},\n  oops', '[1, 2, 3]'], ids=["syntax", "shape"])
def test_malformed_metadata_is_refused_and_left_alone(tmp_path, content, make_data):
    root = make_data(tmp_path / "data", takes=1, angles=(0, 36))
    path = root / "metadata" / "plastic_500hz_metadata.json"
    path.parent.mkdir()
    path.write_text(content)
    before = path.read_bytes()
    with pytest.raises(ValueError) as exc:
        dataset(root)
    assert str(path) in str(exc.value)
    assert "\n" not in str(exc.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp or backup files left
