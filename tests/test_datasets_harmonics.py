"""Harmonic levels read off real log-magnitude spectrograms of synthesised tones."""
from __future__ import annotations

import numpy as np
import pytest

from datasets.audio import log_spectrogram
from datasets.config import SpectrogramParams
from datasets.harmonics import angle_spread, harmonic_levels_db, harmonic_profile

PARAMS = SpectrogramParams()


def tone(f0: float, levels_db: list[float], seconds: float = 1.0, gain: float = 0.3) -> np.ndarray:
    t = np.arange(int(PARAMS.sample_rate * seconds)) / PARAMS.sample_rate
    rng = np.random.default_rng(0)
    x = sum(10 ** (db / 20) * np.sin(2 * np.pi * f0 * (k + 1) * t + rng.uniform(0, 6.28)) for k, db in enumerate(levels_db))
    return (gain * x / np.max(np.abs(x))).astype(np.float32)


@pytest.mark.parametrize("f0", [500.0, 1000.0])
def test_levels_match_the_synthesised_harmonics(f0):
    wanted = [0.0, -6.0, -20.0, -12.0, -30.0, -9.0]
    spec = log_spectrogram(tone(f0, wanted), PARAMS).numpy()
    got = harmonic_levels_db(spec, f0, PARAMS, harmonics=6)
    assert got.shape == (6,)
    np.testing.assert_allclose(got, wanted, atol=0.5)


def test_gain_does_not_change_the_profile_and_harmonics_above_nyquist_are_nan():
    wanted = [0.0, -10.0, -15.0]
    quiet = log_spectrogram(tone(3000.0, wanted, gain=0.01), PARAMS).numpy()
    loud = log_spectrogram(tone(3000.0, wanted, gain=0.9), PARAMS).numpy()
    both = harmonic_levels_db(np.stack([quiet, loud]), 3000.0, PARAMS, harmonics=9)
    assert both.shape == (2, 9)
    np.testing.assert_allclose(both[0, :3], both[1, :3], atol=0.1)
    assert np.isnan(both[:, 7:]).all()  # 24 kHz and 27 kHz: at or above the Nyquist frequency


def test_cropped_spectrograms_give_nan_beyond_their_bins():
    spec = log_spectrogram(tone(500.0, [0.0, -6.0, -12.0]), PARAMS).numpy()[:50]  # 50 bins: up to ~1.2 kHz
    got = harmonic_levels_db(spec, 500.0, PARAMS, harmonics=3)
    assert np.isfinite(got[:2]).all() and np.isnan(got[2])


def test_angle_spread_is_per_angle_percentiles():
    levels = np.array([[0.0, -10.0], [0.0, -12.0], [0.0, -11.0], [0.0, -30.0], [0.0, -32.0]])
    spread = angle_spread(levels, np.array([0, 0, 0, 90, 90]))
    assert sorted(spread) == [0.0, 90.0]
    low, mid, high = spread[0.0]
    assert mid[1] == pytest.approx(-11.0) and low[1] < mid[1] < high[1]
    assert spread[90.0][1][1] == pytest.approx(-31.0)


def test_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="shape"):
        harmonic_levels_db(np.zeros(10), 500.0, PARAMS)


def test_noise_floor_sits_below_the_harmonics_and_marks_a_buried_one():
    rng = np.random.default_rng(1)
    wave = tone(500.0, [0.0, -10.0, -80.0, -20.0]) + rng.normal(0, 10 ** (-60 / 20), PARAMS.sample_rate).astype(np.float32)
    levels, floors = harmonic_profile(log_spectrogram(wave, PARAMS).numpy(), 500.0, PARAMS, harmonics=4)
    snr = levels - floors
    assert snr[0] > 30 and snr[1] > 20 and snr[3] > 10  # audible harmonics stand well above their floors
    assert abs(snr[2]) < 6  # the -80 dB harmonic is buried: its level is the floor's
    np.testing.assert_allclose(levels, harmonic_levels_db(log_spectrogram(wave, PARAMS).numpy(), 500.0, PARAMS, 4))
