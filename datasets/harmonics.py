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
"""
from __future__ import annotations

import warnings

import numpy as np

from datasets.config import SpectrogramParams

DEFAULT_HARMONICS = 8
SEARCH_BINS = 2


def harmonic_bin(f0_hz: float, k: int, params: SpectrogramParams) -> float:
    """Fractional STFT bin of harmonic k (1 = the fundamental) of a tone at `f0_hz`."""
    return k * f0_hz * params.n_fft / params.sample_rate


def harmonic_levels_db(spectrograms: np.ndarray, f0_hz: float, params: SpectrogramParams,
                       harmonics: int = DEFAULT_HARMONICS) -> np.ndarray:
    """Level of harmonics 1..`harmonics` in dB relative to the fundamental, per recording.

    `spectrograms` (N, F, T) or (F, T): log-magnitude spectrograms (natural log). Returns
    (N, harmonics) float64 (or (harmonics,)): column 0 is 0 dB, NaN where a harmonic lies
    above the Nyquist frequency or beyond the F bins held.
    """
    specs = np.asarray(spectrograms, dtype=np.float64)
    single = specs.ndim == 2
    if single:
        specs = specs[None]
    if specs.ndim != 3:
        raise ValueError(f"spectrograms must have shape (N, F, T) or (F, T), got {specs.shape}")
    n, bins, _ = specs.shape
    # Mean power over the frames, in dB: log-magnitude (natural log) -> power -> 10 log10.
    power = np.exp(2.0 * specs).mean(axis=2)
    levels = np.full((n, harmonics), np.nan)
    nyquist_bin = params.n_fft / 2
    for k in range(1, harmonics + 1):
        centre = harmonic_bin(f0_hz, k, params)
        lo, hi = int(np.floor(centre)) - SEARCH_BINS, int(np.ceil(centre)) + SEARCH_BINS + 1
        if centre >= nyquist_bin - SEARCH_BINS or hi > bins or lo < 0:
            continue
        levels[:, k - 1] = 10.0 * np.log10(power[:, lo:hi].sum(axis=1) + 1e-30)
    out = levels - levels[:, :1]
    return out[0] if single else out


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
