"""The data layer on real files: the demo generator, exclusion lists, spectrograms and their
cache, broken recordings, pairs, the split and the sample metadata (issue 2)."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from datasets import AudioSpectrumDataset, DatasetConfig, load_exclusions, make_pairs, parse_exclusions, stratified_split
from datasets.audio import log_spectrogram, read_mono
from datasets.config import SpectrogramParams
from utils.constants import CACHE_DIR, DEFAULT_ANGLES, SAMPLE_RATE
from datasets.demo_data import MIN_MISLABEL_OFFSET_DEG, DemoDataConfig, generate
from datasets.demo_data import main as demo_main

REPO = Path(__file__).resolve().parent.parent
FRAMES = 1 + SAMPLE_RATE // 256  # centred STFT of 1 s at hop 256
BINS = 2048 // 2 + 1



def make_data(root: Path, takes: int = 2, angles=DEFAULT_ANGLES, seed: int = 0, **kw) -> Path:
    generate(DemoDataConfig(output_root=root, angles=list(angles), takes=takes, seed=seed, **kw))
    return root


def wav_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.wav"))}


def sid(angle: int, take: int, material: str = "plastic", freq: str = "500hz") -> str:
    return f"{material}_deg{angle:03d}_{freq}_{take:02d}"


def wav_path(root: Path, angle: int, take: int) -> Path:
    return root / f"deg{angle:03d}" / "plastic" / f"{sid(angle, take)}.wav"


def dataset(root: Path, **kw) -> AudioSpectrumDataset:
    return AudioSpectrumDataset(DatasetConfig(data_root=root, **kw), progress=False)


def tone(freq: float, sr: int, seconds: float = 1.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# --------------------------------------------------------------------------- demo generator


def test_demo_same_seed_is_byte_identical_and_other_seed_differs(tmp_path):
    a = wav_bytes(make_data(tmp_path / "a", takes=2, seed=3))
    b = wav_bytes(make_data(tmp_path / "b", takes=2, seed=3))
    c = wav_bytes(make_data(tmp_path / "c", takes=2, seed=4))
    assert len(a) == 12
    assert a == b
    assert a.keys() == c.keys()
    assert all(a[k] != c[k] for k in a)


def test_demo_layout_and_audio_format(tmp_path):
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
    mislabels = {k: v for k, v in faults.items() if v["kind"] == "mislabel"}
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


# --------------------------------------------------------------------------- exclusion lists


HAND_WRITTEN = (
    "\ufeff# exclusions reviewed by hand\r\n"
    "\r\n"
    "   plastic_deg036_500hz_01   \r\n"
    "plastic_deg072_500hz_02  # door slam\r\n"
    "# plastic_deg000_500hz_01\r\n"
    "\t\r\n"
    "plastic_deg036_500hz_01\r\n"
    "plastic_deg108_500hz_2\r\n"
    "   # indented comment\r\n"
)


def test_exclusion_text_parsing():
    parsed = parse_exclusions(HAND_WRITTEN)
    assert parsed.ids == ["plastic_deg036_500hz_01", "plastic_deg072_500hz_02", "plastic_deg108_500hz_2"]
    assert parsed.commented_out == ["plastic_deg000_500hz_01"]


def test_hand_written_exclusion_file_applies_and_warns_about_misspelling(tmp_path, caplog):
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


def test_missing_exclusions_file_is_an_error(tmp_path):
    root = make_data(tmp_path / "data", takes=1)
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError, match="exclusions file not found"):
        load_exclusions(missing)
    with pytest.raises(FileNotFoundError, match=str(missing)):
        dataset(root, exclusions_file=missing)


# --------------------------------------------------------------------------- spectrograms


def test_dataset_finds_recordings_and_computes_spectrograms(tmp_path):
    root = make_data(tmp_path / "data", takes=2, angles=(0, 36, 180))
    # A stray file in the folder that does not follow the naming scheme is not a recording.
    (root / "deg036" / "plastic" / "notes.wav").write_bytes(b"")
    ds = dataset(root)
    assert ds.sample_ids == sorted(ds.sample_ids)
    assert ds.sample_ids == [sid(a, t) for a in (0, 36, 180) for t in (1, 2)]
    assert ds.angles.tolist() == [0, 0, 36, 36, 180, 180]
    assert ds.spectrograms.shape == (6, BINS, FRAMES)
    assert ds.spectrograms.dtype == torch.float32
    spec, angle, sample_id = ds[2]
    assert (angle, sample_id) == (36.0, sid(36, 1))
    # Log-magnitude STFT (Hann window, centred) of the file's samples.
    wave, _ = sf.read(str(wav_path(root, 36, 1)), dtype="float32")
    stft = torch.stft(torch.from_numpy(wave), 2048, 256, window=torch.hann_window(2048), center=True,
                      pad_mode="reflect", return_complex=True)
    torch.testing.assert_close(spec, torch.log(stft.abs() + 1e-6), rtol=1e-4, atol=1e-4)


def test_spectrogram_cache_is_read_and_keyed_by_content(tmp_path):
    root = make_data(tmp_path / "data", takes=2, angles=(0, 72))
    first = dataset(root)
    cache = root / CACHE_DIR
    entries = sorted(cache.glob("*.npy"))
    assert len(entries) == 4
    # A second load reads the cache: poisoned entries come back as they are.
    for entry in entries:
        np.save(entry, np.full((BINS, FRAMES), 7.0, dtype=np.float32))
    second = dataset(root)
    assert torch.equal(second.spectrograms, torch.full((4, BINS, FRAMES), 7.0))
    assert sorted(cache.glob("*.npy")) == entries
    # New bytes in a file mean a new entry; the other recordings still come from the cache.
    changed = wav_path(root, 72, 2)
    sf.write(str(changed), tone(1500.0, SAMPLE_RATE), SAMPLE_RATE, subtype="PCM_16")
    third = dataset(root)
    assert len(list(cache.glob("*.npy"))) == 5
    k = third.index_of[sid(72, 2)]
    assert not torch.equal(third.spectrograms[k], first.spectrograms[k])
    assert not torch.all(third.spectrograms[k] == 7.0)
    others = [i for i in range(4) if i != k]
    assert torch.all(third.spectrograms[others] == 7.0)
    # Without the cache nothing is read from or written to it.
    for entry in cache.glob("*.npy"):
        entry.unlink()
    fresh = dataset(root, use_cache=False)
    assert not list(cache.glob("*.npy"))
    assert torch.equal(fresh.spectrograms[others], first.spectrograms[others])


def test_stereo_file_is_mixed_to_mono(tmp_path):
    root = make_data(tmp_path / "data", takes=1, angles=(0, 36))
    left, right = tone(1000.0, SAMPLE_RATE, amp=0.4), tone(3000.0, SAMPLE_RATE, amp=0.2)
    path = wav_path(root, 36, 2)
    sf.write(str(path), np.stack([left, right], axis=1), SAMPLE_RATE, subtype="FLOAT")
    assert sf.info(str(path)).channels == 2
    params = SpectrogramParams()
    np.testing.assert_allclose(read_mono(path, params), (left + right) / 2, rtol=0, atol=1e-7)
    ds = dataset(root)
    k = ds.index_of[sid(36, 2)]
    assert ds.spectrograms.shape == (3, BINS, FRAMES)
    torch.testing.assert_close(ds.spectrograms[k], log_spectrogram((left + right) / 2, params), rtol=1e-5, atol=1e-5)


def test_other_sample_rate_is_resampled_or_refused(tmp_path, caplog):
    root = make_data(tmp_path / "data", takes=1, angles=(0, 36))
    path = wav_path(root, 0, 2)
    sf.write(str(path), tone(1000.0, 44_100), 44_100, subtype="PCM_16")
    with caplog.at_level(logging.WARNING):
        ds = dataset(root)
    assert any(str(path) in r.getMessage() and "44100" in r.getMessage() for r in caplog.records
               if r.levelno == logging.WARNING)
    spec = ds.spectrograms[ds.index_of[sid(0, 2)]]
    assert spec.shape == (BINS, FRAMES)
    # The tone stays at 1000 Hz after resampling: bin 1000 * 2048 / 48000 = 42.7.
    assert int(spec[:, FRAMES // 2].argmax()) == 43
    # With resampling off the file is refused, even though a resampled copy is in the cache.
    with pytest.raises(ValueError, match="44100 Hz") as exc:
        dataset(root, spectrogram=SpectrogramParams(resample=False))
    assert str(path) in str(exc.value)
    with pytest.raises(ValueError, match="44100 Hz"):
        dataset(root, spectrogram=SpectrogramParams(resample=False), use_cache=False)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _text(path: Path) -> None:
    path.write_text("this is a note, not a recording\n")


def _nan(path: Path) -> None:
    audio = tone(500.0, SAMPLE_RATE)
    audio[1000:1010] = np.nan
    sf.write(str(path), audio, SAMPLE_RATE, subtype="FLOAT")


@pytest.mark.parametrize(
    "spoil, message",
    [(_empty, "empty"), (_truncated, "truncated"), (_text, "not a readable audio file"), (_nan, "NaN")],
    ids=["empty", "truncated", "text", "nan"],
)
def test_broken_recording_is_refused_naming_the_file(tmp_path, spoil, message):
    root = make_data(tmp_path / "data", takes=2, angles=(0, 36))
    bad = wav_path(root, 36, 2)
    spoil(bad)
    with pytest.raises(ValueError, match=message) as exc:
        dataset(root)
    assert str(bad) in str(exc.value)
    assert "\n" not in str(exc.value)


def test_missing_root_or_no_recordings_shows_the_searched_pattern(tmp_path):
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


# --------------------------------------------------------------------------- pairs


def test_make_pairs_by_hand():
    # Recordings 0..3 at 72, 0, 36, 36 degrees.
    pairs, targets = make_pairs([0, 1, 2, 3], [72, 0, 36, 36])
    assert pairs.tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3]]
    assert targets.tolist() == [1.0, 1.0, 1.0, -1.0, -1.0]
    # A subset keeps the order of the given indices.
    pairs, targets = make_pairs([3, 1], [72, 0, 36, 36])
    assert pairs.tolist() == [[3, 1]] and targets.tolist() == [1.0]


def test_dataset_pairs_cover_every_angle_difference_and_skip_excluded(tmp_path):
    root = make_data(tmp_path / "data", takes=3, angles=(0, 36, 72, 108))
    excl = tmp_path / "excl.txt"
    excl.write_text(f"{sid(36, 2)}\n")
    full = dataset(root)
    ds = dataset(root, exclusions_file=excl)
    ids, angles = ds.sample_ids, ds.angles

    pairs, targets = full.pairs()
    assert pairs.dtype == np.int64 and targets.dtype == np.float32
    # Every unordered pair of recordings with different angles, exactly once.
    expected = {frozenset((a, b)) for a, b in combinations(ids, 2) if angles[ids.index(a)] != angles[ids.index(b)]}
    got = [frozenset((ids[i], ids[j])) for i, j in pairs]
    assert len(got) == len(set(got)) == len(expected) == 54
    assert set(got) == expected
    for (i, j), y in zip(pairs, targets):
        assert y == (1.0 if angles[i] > angles[j] else -1.0)
    again, again_t = full.pairs()
    assert np.array_equal(again, pairs) and np.array_equal(again_t, targets)

    pairs_ex, _ = ds.pairs()
    id_pairs = {(ids[i], ids[j]) for i, j in pairs_ex}
    assert all(sid(36, 2) not in p for p in id_pairs)
    assert id_pairs == {(ids[i], ids[j]) for i, j in pairs if sid(36, 2) not in (ids[i], ids[j])}
    assert len(pairs) - len(pairs_ex) == 9  # the 9 recordings at other angles
    # The excluded recording's pairs exist only when asked for explicitly.
    all_pairs, _ = ds.pairs(valid_only=False)
    assert np.array_equal(all_pairs, pairs)


# --------------------------------------------------------------------------- split


def test_stratified_split(tmp_path):
    root = make_data(tmp_path / "data", takes=4)
    excl = tmp_path / "excl.txt"
    excl.write_text(f"{sid(0, 1)}\n{sid(36, 3)}\n{sid(180, 4)}\n")
    ds = dataset(root)
    ds_ex = dataset(root, exclusions_file=excl)

    split = stratified_split(ds.sample_ids, ds.angles, seed=5)
    assert split == stratified_split(ds.sample_ids, ds.angles, seed=5)
    assert split == stratified_split(ds_ex.sample_ids, ds_ex.angles, seed=5)  # over all recordings
    members = split["train"] + split["validation"] + split["holdout"]
    assert sorted(members) == ds.sample_ids  # a partition
    assert [len(split[n]) for n in ("train", "validation", "holdout")] == [12, 6, 6]
    angle_of = dict(zip(ds.sample_ids, ds.angles))
    for name, per_angle in (("train", 2), ("validation", 1), ("holdout", 1)):
        assert split[name] == sorted(split[name])
        counts = {a: sum(1 for s in split[name] if angle_of[s] == a) for a in DEFAULT_ANGLES}
        assert counts == {a: per_angle for a in DEFAULT_ANGLES}, name
    others = [stratified_split(ds.sample_ids, ds.angles, seed=s) for s in (6, 7, 8)]
    assert all(o != split for o in others)
    # Fractions are validated.
    for bad in [(0.5, 0.5, 0.5), (0.5, 0.5), (1.2, -0.1, -0.1)]:
        with pytest.raises(ValueError, match="fractions"):
            stratified_split(ds.sample_ids, ds.angles, bad)
    assert stratified_split(ds.sample_ids, ds.angles, (1.0, 0.0, 0.0))["train"] == ds.sample_ids


# --------------------------------------------------------------------------- metadata


def test_metadata_registers_every_recording_and_keeps_user_keys(tmp_path):
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
def test_malformed_metadata_is_refused_and_left_alone(tmp_path, content):
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


def test_closest_id_undoes_missing_zero_padding_and_case():
    from datasets.exclusions import closest_id

    known = ["plastic_deg108_500hz_01", "plastic_deg108_500hz_12", "plastic_deg036_500hz_04"]
    assert closest_id("plastic_deg108_500hz_1", known) == "plastic_deg108_500hz_01"
    assert closest_id("Plastic_deg36_500Hz_4", known) == "plastic_deg036_500hz_04"
    assert closest_id("plastik_deg036_500hz_04", known) == "plastic_deg036_500hz_04"
    assert closest_id("something else entirely", known) is None
