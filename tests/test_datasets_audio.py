"""Recordings to spectrograms: discovery, the STFT, the cache, stereo, other sample rates, broken files."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from datasets import AudioSpectrumDataset, DatasetConfig
from datasets.audio import log_spectrogram, read_mono
from datasets.config import SpectrogramParams
from datasets.sample_id import SampleId
from utils.constants import CACHE_DIR, SAMPLE_RATE

PARAMS = SpectrogramParams()
FRAMES = 1 + PARAMS.num_samples // PARAMS.hop_length  # centred STFT of 1 s
BINS = PARAMS.n_fft // 2 + 1


def sid(angle: int, take: int) -> str:
    return str(SampleId.of("plastic", angle, "500hz", take))


def wav_path(root: Path, angle: int, take: int) -> Path:
    return root / f"deg{angle:03d}" / "plastic" / f"{sid(angle, take)}.wav"


def dataset(root: Path, **kw) -> AudioSpectrumDataset:
    return AudioSpectrumDataset(DatasetConfig(data_root=root, **kw), progress=False)


def test_dataset_finds_recordings_and_computes_spectrograms(tmp_path, make_data, caplog):
    root = make_data(tmp_path / "data", takes=2, angles=(0, 36, 180))
    # A stray file in the folder that does not follow the naming scheme is not a recording, and a warning says so;
    # a recording of another frequency is not used either, without a word.
    (root / "deg036" / "plastic" / "recording_03.wav").write_bytes(b"")
    (root / "deg036" / "plastic" / "plastic_deg036_1000hz_01.wav").write_bytes(b"")
    ds = dataset(root)
    warned = [r.getMessage() for r in caplog.records if "ignoring" in r.getMessage()]
    assert len(warned) == 1 and "1 WAV file(s)" in warned[0] and "deg036/plastic/recording_03.wav" in warned[0]
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


def tone(freq: float, sr: int, seconds: float = 1.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def per_file(cache):
    return sorted(p for p in cache.glob("*.npy") if not p.name.startswith("stack-"))


def test_spectrogram_cache_is_read_and_keyed_by_content(tmp_path, make_data):
    root = make_data(tmp_path / "data", takes=2, angles=(0, 72))
    first = dataset(root)
    cache = root / CACHE_DIR
    entries = per_file(cache)
    assert len(entries) == 4 and len(list(cache.glob("stack-*.npy"))) == 1
    # A second load of the same files maps the same stack; without it, the per-file entries are read:
    # poisoned entries come back as they are.
    for entry in entries:
        np.save(entry, np.full((BINS, FRAMES), 7.0, dtype=np.float32))
    assert torch.equal(dataset(root).spectrograms, first.spectrograms)
    for stack in cache.glob("stack-*.npy"):
        stack.unlink()
    second = dataset(root)
    assert torch.equal(second.spectrograms, torch.full((4, BINS, FRAMES), 7.0))
    assert per_file(cache) == entries
    # New bytes in a file mean a new entry (and a new stack); the other recordings still come from the cache.
    changed = wav_path(root, 72, 2)
    sf.write(str(changed), tone(1500.0, SAMPLE_RATE), SAMPLE_RATE, subtype="PCM_16")
    third = dataset(root)
    assert len(per_file(cache)) == 5 and len(list(cache.glob("stack-*.npy"))) == 2
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


def test_spectrograms_cropped_to_the_models_bins_in_a_mapped_stack(tmp_path, make_data):
    root = make_data(tmp_path / "data", takes=2, angles=(0, 72))
    full = dataset(root)
    cropped = dataset(root, freq_bins=200)
    assert cropped.spectrograms.shape == (4, 200, FRAMES)
    assert torch.equal(cropped.spectrograms, full.spectrograms[:, :200])
    stack = next(p for p in (root / CACHE_DIR).glob("stack-*.npy") if np.load(p, mmap_mode="r").shape[1] == 200)
    before = stack.read_bytes()
    cropped.spectrograms[0, 0, 0] = 123.0  # copy-on-write: the stack on disk never changes
    assert stack.read_bytes() == before
    assert torch.equal(dataset(root, use_cache=False, freq_bins=200).spectrograms, full.spectrograms[:, :200])
    # Releasing the mapped pages keeps the values: they are read back from the stack.
    again = dataset(root, freq_bins=200)
    copy = again.spectrograms.clone()
    again.release_pages()
    assert torch.equal(again.spectrograms, copy)
    dataset(root, use_cache=False).release_pages()  # in memory: nothing to release


def test_stereo_file_is_mixed_to_mono(tmp_path, make_data):
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


def test_other_sample_rate_is_resampled_or_refused(tmp_path, caplog, make_data):
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
def test_broken_recording_is_refused_naming_the_file(tmp_path, spoil, message, make_data):
    root = make_data(tmp_path / "data", takes=2, angles=(0, 36))
    bad = wav_path(root, 36, 2)
    spoil(bad)
    with pytest.raises(ValueError, match=message) as exc:
        dataset(root)
    assert str(bad) in str(exc.value)
    assert "\n" not in str(exc.value)
