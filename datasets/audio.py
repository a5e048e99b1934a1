"""Reading WAV files safely and turning them into cached log-magnitude spectrograms."""
from __future__ import annotations

import hashlib
import io
import logging
import struct
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from datasets.config import SpectrogramParams
from utils.atomic_io import write_with_atomic
from utils.hashing import file_digest as sized_digest

log = logging.getLogger(__name__)

LOG_EPS = 1e-6


def _check_riff_complete(path: Path, data: bytes) -> None:
    """Refuse a WAV whose `data` chunk claims more bytes than the file holds (a cut-off copy)."""
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX") or data[8:12] != b"WAVE":
        return  # not RIFF/WAVE: soundfile decides whether it can read it
    pos = 12
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack("<I" if data[:4] == b"RIFF" else ">I", data[pos + 4 : pos + 8])
        if chunk_id == b"data":
            if pos + 8 + size > len(data):
                raise ValueError(
                    f"{path}: truncated WAV (header promises {size} bytes of audio, file holds {len(data) - pos - 8})"
                )
            return
        pos += 8 + size + (size & 1)
    raise ValueError(f"{path}: WAV has no audio data chunk")


def read_mono(path: str | Path, params: SpectrogramParams, data: bytes | None = None) -> np.ndarray:
    """Read a recording as float32 mono at `params.sample_rate`. Shape (samples,).

    Stereo is mixed to mono; another sample rate is resampled (or refused when
    `params.resample` is False). Empty, truncated, non-audio and NaN files are refused.
    """
    path = Path(path)
    if data is None:
        data = path.read_bytes()
    if not data:
        raise ValueError(f"{path}: empty file")
    _check_riff_complete(path, data)
    try:
        audio, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise ValueError(f"{path}: not a readable audio file ({str(exc).splitlines()[0]})") from None
    if audio.shape[0] == 0:
        raise ValueError(f"{path}: no audio samples")
    if not np.all(np.isfinite(audio)):
        raise ValueError(f"{path}: contains NaN or infinite samples")
    if audio.shape[1] > 1:
        log.debug("%s: %d channels mixed to mono", path, audio.shape[1])
    mono = audio.mean(axis=1)
    if sr != params.sample_rate:
        if not params.resample:
            raise ValueError(f"{path}: sample rate {sr} Hz, expected {params.sample_rate} Hz (resampling is off)")
        log.warning("%s: resampling %d Hz -> %d Hz", path, sr, params.sample_rate)
        mono = torchaudio.functional.resample(torch.from_numpy(mono), sr, params.sample_rate).numpy()
    return np.ascontiguousarray(mono, dtype=np.float32)


def fit_length(wave: np.ndarray, num_samples: int, path: Path | str = "") -> np.ndarray:
    """Centre-crop a longer recording, zero-pad a shorter one (with a warning). Shape (num_samples,)."""
    n = wave.shape[0]
    if n == num_samples:
        return wave
    if n > num_samples:
        start = (n - num_samples) // 2
        return wave[start : start + num_samples]
    log.warning("%s: %d samples long, zero-padded to %d", path, n, num_samples)
    out = np.zeros(num_samples, dtype=wave.dtype)
    out[:n] = wave
    return out


_TRANSFORMS: dict[tuple[int, int], torchaudio.transforms.Spectrogram] = {}


def log_spectrogram(wave: np.ndarray, params: SpectrogramParams) -> torch.Tensor:
    """Log-magnitude STFT, `log(|X| + 1e-6)`. Shape (n_fft // 2 + 1, frames), float32."""
    key = (params.n_fft, params.hop_length)
    if key not in _TRANSFORMS:
        _TRANSFORMS[key] = torchaudio.transforms.Spectrogram(
            n_fft=params.n_fft, hop_length=params.hop_length, power=1.0
        )
    mag = _TRANSFORMS[key](torch.from_numpy(wave))
    return torch.log(mag + LOG_EPS)


def cached_spectrogram(path: Path, params: SpectrogramParams, cache_dir: Path | None,
                       freq_bins: int | None = None) -> torch.Tensor:
    """Spectrogram of one file (its lowest `freq_bins` bins, or all), read from / written to `cache_dir`."""
    return spectrogram_and_digest(path, params, cache_dir, freq_bins)[0]


def cache_key(params: SpectrogramParams, freq_bins: int | None) -> str:
    """What besides a file's bytes decides its cached spectrogram."""
    return params.key() if freq_bins is None else f"{params.key()}|bins={freq_bins}"


def spectrogram_and_digest(path: Path, params: SpectrogramParams, cache_dir: Path | None,
                           freq_bins: int | None = None, hasher=None) -> tuple[torch.Tensor, str]:
    """`cached_spectrogram`, and the sha256 (hex) of the file's bytes: one read and one hash
    give both the cache key and the recording's identity (used in run fingerprints).

    `hasher`: a sha256 object that has already read the file's bytes (`file_hasher`): the
    file is then not hashed again, and read only when its spectrogram is not cached.
    """
    if not path.is_file():
        raise FileNotFoundError(f"recording not found: {path}")
    data = None
    if hasher is None:
        data = path.read_bytes()
        hasher = hashlib.sha256(data)
    file_sha256 = hasher.hexdigest()
    cache_file = None
    if cache_dir is not None:
        keyed = hasher.copy()
        keyed.update(cache_key(params, freq_bins).encode())  # = sha256(data + key): the cache key it always was
        cache_file = cache_dir / f"{keyed.hexdigest()[:32]}.npy"
        if cache_file.is_file():
            try:
                return torch.from_numpy(np.load(cache_file, allow_pickle=False)), file_sha256
            except (ValueError, OSError):
                log.warning("ignoring unreadable cache entry %s", cache_file)
    if data is None:
        data = path.read_bytes()
    wave = fit_length(read_mono(path, params, data), params.num_samples, path)
    spec = log_spectrogram(wave, params)
    if freq_bins is not None:
        spec = spec[:freq_bins].clone()
    if cache_file is not None:
        write_with_atomic(cache_file, lambda h: np.save(h, spec.numpy(), allow_pickle=False), binary=True)
    return spec, file_sha256


def file_hasher(path: Path):
    """A sha256 object that has read a recording's bytes (in chunks); a missing file is a one-line error."""
    if not path.is_file():
        raise FileNotFoundError(f"recording not found: {path}")
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            hasher.update(block)
    return hasher


def file_digest(path: Path) -> str:
    """sha256 (hex) of a recording's bytes; a missing file is a one-line error."""
    if not path.is_file():
        raise FileNotFoundError(f"recording not found: {path}")
    return sized_digest(path)[1]
