"""The harmonic profile of a sine-tone take: each harmonic's level relative to the fundamental.

For these recordings the angle shows in the *relative* levels of the harmonics (the speaker's
directivity narrows with frequency, reflections comb the levels), not in the overall level
(every take has its own gain) and hardly in a spectrogram picture. This module reads those
levels off the log-magnitude spectrograms the toolkit already caches
(`datasets.audio.log_spectrogram`: natural log of |STFT| + 1e-6, shape (F, T)).

Harmonic k of a tone at f0 sits near bin k f0 n_fft / sample_rate; its level is the power of
the bins within `SEARCH_BINS` of it, summed (the window's main lobe, wherever the harmonic
falls between bins; the tones drift by a fraction of a per cent) and averaged over the
frames, in dB. A harmonic above the Nyquist frequency or beyond the
bins the spectrogram holds is NaN.

`harmonic_profile` also gives each harmonic's *noise floor* on the same scale: the median
power of the bins between it and its neighbours (clear of every main lobe), times the
number of bins its level sums. A harmonic within a few dB of its floor is buried in noise:
its level says only that it is weak, and where the floor lies depends on the take's gain,
not on the angle (`exclusion.label_noise` treats it as censored).
"""
from __future__ import annotations

import warnings

from typing import TYPE_CHECKING, Sequence

import numpy as np

from datasets.config import SpectrogramParams
from utils.constants import frequency_hz

if TYPE_CHECKING:
    from datasets.audio_dataset import AudioSpectrumDataset

DEFAULT_HARMONICS = 8
SEARCH_BINS = 2


def harmonic_bin(f0_hz: float, k: int, params: SpectrogramParams) -> float:
    """Fractional STFT bin of harmonic k (1 = the fundamental) of a tone at `f0_hz`."""
    return k * f0_hz * params.n_fft / params.sample_rate


def _frame_power(spectrograms: np.ndarray) -> tuple[np.ndarray, bool]:
    """(N, F) power averaged over the frames, and whether one (F, T) spectrogram was given."""
    specs = np.asarray(spectrograms, dtype=np.float64)
    single = specs.ndim == 2
    if single:
        specs = specs[None]
    if specs.ndim != 3:
        raise ValueError(f"spectrograms must have shape (N, F, T) or (F, T), got {specs.shape}")
    # log-magnitude (natural log) -> power, averaged over the frames (chunked: a big stack stays small)
    power = np.empty(specs.shape[:2])
    for start in range(0, len(specs), 256):
        power[start : start + 256] = np.exp(2.0 * specs[start : start + 256]).mean(axis=2)
    return power, single


def _absolute_db(power: np.ndarray, f0_hz: float, params: SpectrogramParams,
                 harmonics: int) -> tuple[np.ndarray, np.ndarray]:
    """(levels, floors) (N, harmonics) in absolute dB; NaN where a harmonic is not held."""
    n, bins = power.shape
    levels = np.full((n, harmonics), np.nan)
    floors = np.full((n, harmonics), np.nan)
    per_harmonic = harmonic_bin(f0_hz, 1, params)
    for k in range(1, harmonics + 1):
        centre = harmonic_bin(f0_hz, k, params)
        lo, hi = int(np.floor(centre)) - SEARCH_BINS, int(np.ceil(centre)) + SEARCH_BINS + 1
        if centre >= params.n_fft / 2 - SEARCH_BINS or hi > bins or lo < 0:
            continue
        levels[:, k - 1] = 10.0 * np.log10(power[:, lo:hi].sum(axis=1) + 1e-30)
        # Between this harmonic and its neighbours, clear of every main lobe.
        start = max(int(np.ceil(centre - per_harmonic / 2)) + SEARCH_BINS + 1, 0)
        stop = min(int(np.floor(centre + per_harmonic / 2)) - SEARCH_BINS - 1, bins - 1)
        quiet = np.r_[start:lo, hi : stop + 1]
        if len(quiet) >= 2:
            floors[:, k - 1] = 10.0 * np.log10(np.median(power[:, quiet], axis=1) * (hi - lo) + 1e-30)
    return levels, floors


def harmonic_levels_db(spectrograms: np.ndarray, f0_hz: float, params: SpectrogramParams,
                       harmonics: int = DEFAULT_HARMONICS) -> np.ndarray:
    """Level of harmonics 1..`harmonics` in dB relative to the fundamental, per recording.

    `spectrograms` (N, F, T) or (F, T): log-magnitude spectrograms (natural log). Returns
    (N, harmonics) float64 (or (harmonics,)): column 0 is 0 dB, NaN where a harmonic lies
    above the Nyquist frequency or beyond the F bins held.
    """
    power, single = _frame_power(spectrograms)
    levels, _ = _absolute_db(power, f0_hz, params, harmonics)
    out = levels - levels[:, :1]
    return out[0] if single else out


def harmonic_profile(spectrograms: np.ndarray, f0_hz: float, params: SpectrogramParams,
                     harmonics: int = DEFAULT_HARMONICS) -> tuple[np.ndarray, np.ndarray]:
    """(levels, floors), each (N, harmonics) in dB relative to the fundamental's level.

    `levels` is `harmonic_levels_db`; `floors` is each harmonic's noise floor on the same
    scale (the module docstring). Column 0 of `floors` is minus the fundamental's
    signal-to-noise ratio. NaN where a harmonic is not held.
    """
    power, single = _frame_power(spectrograms)
    levels, floors = _absolute_db(power, f0_hz, params, harmonics)
    levels, floors = levels - levels[:, :1], floors - levels[:, :1]
    return (levels[0], floors[0]) if single else (levels, floors)


def dataset_profiles(dataset: "AudioSpectrumDataset", indices: Sequence[int],
                     harmonics: int = DEFAULT_HARMONICS) -> tuple[np.ndarray, np.ndarray]:
    """`harmonic_profile` (levels, floors), each (n, harmonics), of the recordings `indices` of a data
    set, each at its own frequency (a pooled `--frequency all` set mixes them)."""
    indices = np.asarray(indices, dtype=np.int64)
    levels = np.full((len(indices), harmonics), np.nan)
    floors = np.full((len(indices), harmonics), np.nan)
    params = dataset.config.spectrogram
    frequencies = np.asarray([dataset.recordings[i].frequency for i in indices.tolist()])
    for frequency in np.unique(frequencies):
        rows = np.flatnonzero(frequencies == frequency)
        specs = dataset.spectrograms[indices[rows]]
        levels[rows], floors[rows] = harmonic_profile(np.asarray(specs), frequency_hz(str(frequency)), params, harmonics)
    return levels, floors


def angle_spread(levels: np.ndarray, angles: np.ndarray) -> dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per angle, the (10th percentile, median, 90th percentile) of each harmonic's level (harmonics,).

    `levels` (N, harmonics) from `harmonic_levels_db`, `angles` (N,): the spread a take's own
    profile is drawn over in the review page. Percentiles, not mean and SD, so that a few
    mislabeled takes among an angle's recordings do not widen it much.
    """
    levels = np.asarray(levels, dtype=np.float64)
    angles = np.asarray(angles, dtype=np.float64)
    out = {}
    for a in np.unique(angles):
        members = levels[angles == a]
        with warnings.catch_warnings():  # a harmonic above the Nyquist frequency is NaN everywhere: NaN it stays
            warnings.simplefilter("ignore", RuntimeWarning)
            low, mid, high = np.nanpercentile(members, [10, 50, 90], axis=0)
        out[float(a)] = (low, mid, high)
    return out
