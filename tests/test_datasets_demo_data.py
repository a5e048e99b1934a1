"""The demo generator: same seed, same bytes; the layout; planted faults and the truth file."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from datasets.demo_data import MIN_MISLABEL_OFFSET_DEG, DemoDataConfig, generate
from datasets.sample_id import SampleId
from datasets.demo_data import main as demo_main
from datasets.acoustics import SpeakerModel
from datasets.faults import FAULT_KINDS, parse_fault_counts
from utils.constants import DEFAULT_ANGLES, frequency_hz

REPO = Path(__file__).resolve().parent.parent


def wav_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.wav"))}


def sid(angle: int, take: int) -> str:
    return str(SampleId.of("plastic", angle, "500hz", take))


def wav_path(root: Path, angle: int, take: int) -> Path:
    return root / f"deg{angle:03d}" / "plastic" / f"{sid(angle, take)}.wav"


def test_demo_same_seed_is_byte_identical_and_other_seed_differs(tmp_path, make_data):
    a = wav_bytes(make_data(tmp_path / "a", takes=2, seed=3))
    b = wav_bytes(make_data(tmp_path / "b", takes=2, seed=3))
    c = wav_bytes(make_data(tmp_path / "c", takes=2, seed=4))
    assert len(a) == 12
    assert a == b
    assert a.keys() == c.keys()
    assert all(a[k] != c[k] for k in a)


def test_demo_layout_and_audio_format(tmp_path, make_data):
    root = make_data(tmp_path / "data", takes=4)
    expected = {
        f"deg{a:03d}/plastic/plastic_deg{a:03d}_500hz_{t:02d}.wav" for a in DEFAULT_ANGLES for t in range(1, 5)
    }
    assert set(wav_bytes(root)) == expected
    path = root / "deg036" / "plastic" / "plastic_deg036_500hz_04.wav"
    info = sf.info(str(path))
    assert info.samplerate == 48_000
    assert info.channels == 1
    assert info.subtype == "PCM_16"
    assert info.format == "WAV"
    assert abs(info.duration - 1.0) < 0.01
    audio, _ = sf.read(str(path))
    assert 0.01 < np.max(np.abs(audio)) < 1.0  # a real, unclipped take


def test_demo_planted_faults_in_truth_file(tmp_path, capsys):
    truth_file = tmp_path / "truth.json"
    root = tmp_path / "data"
    try:
        assert demo_main(["--output-root", str(root), "--takes", "4", "--mislabel", "3", "--clip", "2",
                          "--truth-file", str(truth_file)]) == 0
    finally:
        logger = logging.getLogger()
        for handler in [h for h in logger.handlers if type(h) is logging.StreamHandler]:
            logger.removeHandler(handler)
        logger.setLevel(logging.WARNING)
    assert "planted faults: 5" in capsys.readouterr().out
    truth = json.loads(truth_file.read_text())
    assert truth["recordings"] == 24
    faults = truth["faults"]
    mislabels = {k: v for k, v in faults.items() if v["kind"] == "mislabel-far"}
    clips = {k: v for k, v in faults.items() if v["kind"] == "clip"}
    assert len(mislabels) == 3 and len(clips) == 2 and len(faults) == 5
    for fid, fault in faults.items():
        stored = int(fid.split("_deg")[1][:3])
        assert fault["stored_angle"] == stored
        assert wav_path(root, stored, int(fid[-2:])).is_file()  # the file sits under the stored angle
    for fault in mislabels.values():
        assert abs(fault["true_angle"] - fault["stored_angle"]) >= MIN_MISLABEL_OFFSET_DEG
    for fid, fault in clips.items():
        assert fault["true_angle"] == fault["stored_angle"]
        audio, _ = sf.read(str(wav_path(root, fault["stored_angle"], int(fid[-2:]))))
        # Hard-clipped: a large share of the samples sit on the rail.
        assert np.mean(np.abs(audio) >= 0.98) > 0.1
    clean = next(s for s in (sid(a, t) for a in DEFAULT_ANGLES for t in range(1, 5)) if s not in faults)
    audio, _ = sf.read(str(wav_path(root, int(clean[11:14]), int(clean[-2:]))))
    assert np.mean(np.abs(audio) >= 0.98) == 0.0


def test_demo_refuses_truth_file_inside_data_root(tmp_path):
    root = tmp_path / "data"
    with pytest.raises(ValueError, match="outside the data root"):
        generate(DemoDataConfig(output_root=root, takes=1, mislabel=1, truth_file=root / "truth.json"))
    assert not (root / "truth.json").exists()
    # The command line: one readable line and exit 1.
    proc = subprocess.run(
        [sys.executable, "-m", "datasets.demo_data", "--output-root", str(root), "--takes", "1",
         "--truth-file", str(root / "sub" / "truth.json")],
        cwd=REPO, capture_output=True, text=True,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("demo_data: error:") and "outside the data root" in lines[0]


def test_every_fault_kind_is_planted_as_the_truth_file_says(tmp_path):
    root = tmp_path / "data"
    counts = {kind: 1 for kind in FAULT_KINDS}
    truth = generate(DemoDataConfig(output_root=root, takes=3, seed=5, faults=counts, truth_file=tmp_path / "t.json"))
    faults = truth["faults"]
    assert sorted(f["kind"] for f in faults.values()) == sorted(FAULT_KINDS)
    ordered = sorted(DEFAULT_ANGLES)
    for fid, fault in faults.items():
        audio, _ = sf.read(str(wav_path(root, fault["stored_angle"], int(fid[-2:]))))
        step = abs(ordered.index(fault["true_angle"]) - ordered.index(fault["stored_angle"]))
        kind = fault["kind"]
        if kind == "mislabel-far":
            assert step >= 2
        elif kind == "mislabel-near":
            assert step == 1
        else:
            assert step == 0
        if kind == "dc-offset":
            assert abs(np.mean(audio)) > 0.04
        if kind == "clip":
            assert np.mean(np.abs(audio) >= 0.98) > 0.1
        if kind == "dropout":  # most of the take is the noise floor
            assert np.mean(np.abs(audio) < 1e-3) > 0.4
        if kind == "wrong-frequency":
            spectrum = np.abs(np.fft.rfft(audio))
            assert fault["recorded_frequency"] != "500hz"
            assert abs(np.argmax(spectrum) - frequency_hz(fault["recorded_frequency"])) <= 3  # 1 Hz bins


def test_room_generator_and_another_angle_set(tmp_path):
    angles = [0, 30, 60, 90, 120, 150]
    truth = generate(DemoDataConfig(output_root=tmp_path / "room", takes=2, seed=1, generator="room", angles=angles,
                                    faults={"mislabel-near": 1}))
    assert truth["config"]["generator"] == "room" and "room_m" in truth["physics"]["plastic"]
    assert set(wav_bytes(tmp_path / "room")) == {
        f"deg{a:03d}/plastic/plastic_deg{a:03d}_500hz_{t:02d}.wav" for a in angles for t in (1, 2)}
    (fault,) = truth["faults"].values()
    assert abs(fault["true_angle"] - fault["stored_angle"]) == 30
    with pytest.raises(ValueError, match="unknown fault kind"):
        parse_fault_counts(["mislabel=2"])
    assert parse_fault_counts(["clip", "dropout=2", "clip=2"]) == {"clip": 3, "dropout": 2}


def test_physics_differs_between_seeds():
    a, b = SpeakerModel(0, "plastic"), SpeakerModel(1, "plastic")
    assert a.describe() != b.describe()
    assert a.describe() == SpeakerModel(0, "plastic").describe()
