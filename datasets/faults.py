"""The kinds of bad take the demo data plants, and what each does to a take.

A fault is planned for a slot (material, frequency, stored angle, take) and recorded in
the truth file as `{kind, stored_angle, true_angle[, recorded_frequency]}`:

- `mislabel-far`: recorded at an angle at least two steps of the angle set away from the
  folder it is saved in (>= 72 degrees with the default angles);
- `mislabel-near`: recorded at the neighbouring angle (36 degrees away by default);
- `dropout`: the signal drops out for 50-95% of the take, leaving the noise floor;
- `wrong-frequency`: another frequency's tone, recorded at the right angle, saved under this one;
- `noise-burst`: a knock or door slam, 50-250 ms of decaying broadband noise up to 10 dB
  above the tone's peak;
- `dc-offset`: a converter offset of 5-30% of full scale;
- `clip`: recorded 12-20 dB too hot and hard-clipped.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from utils.constants import FREQUENCIES, SAMPLE_RATE, frequency_hz

MISLABEL_FAR = "mislabel-far"
MISLABEL_NEAR = "mislabel-near"
FAULT_KINDS = (MISLABEL_FAR, MISLABEL_NEAR, "dropout", "wrong-frequency", "noise-burst", "dc-offset", "clip")


def is_mislabel(kind: str) -> bool:
    """Mislabel kinds, including the plain `mislabel` of truth files written before the kinds split."""
    return kind.startswith("mislabel")


def parse_fault_counts(specs: Sequence[str]) -> dict[str, int]:
    """`["mislabel-far=3", "clip=1"]` -> {kind: count}; unknown kinds and bad counts are a ValueError."""
    counts: dict[str, int] = {}
    for spec in specs:
        kind, sep, number = spec.partition("=")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r} in --faults: choose among {', '.join(FAULT_KINDS)}")
        try:
            value = int(number) if sep else 1
        except ValueError:
            raise ValueError(f"--faults {spec!r}: the count after '=' must be a whole number") from None
        if value < 0:
            raise ValueError(f"--faults {spec!r}: the count must not be negative")
        counts[kind] = counts.get(kind, 0) + value
    return counts


def true_angle_for(kind: str, stored: int, angles: Sequence[int], rng: np.random.Generator) -> int:
    """The angle a mislabeled take was really recorded at (the stored angle for other kinds)."""
    ordered = sorted(set(angles))
    step = ordered.index(stored)
    if kind == MISLABEL_FAR:
        options = [a for i, a in enumerate(ordered) if abs(i - step) >= 2]
    elif kind == MISLABEL_NEAR:
        options = [ordered[i] for i in (step - 1, step + 1) if 0 <= i < len(ordered)]
    else:
        return stored
    if not options:
        raise ValueError(f"angle {stored} has no angle two steps away in {ordered}: cannot plant {kind}")
    return int(rng.choice(options))


def other_frequency(frequency: str, rng: np.random.Generator) -> str:
    """A frequency of the toolkit other than `frequency`, for a `wrong-frequency` take."""
    return str(rng.choice([f for f in FREQUENCIES if frequency_hz(f) != frequency_hz(frequency)]))


def dropout(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = x.shape[0]
    keep = int(n * rng.uniform(0.05, 0.5))
    start = int(rng.integers(0, n - keep))
    out = rng.normal(0.0, 10 ** (-70 / 20), size=n)
    out[start : start + keep] += x[start : start + keep]
    return out


def noise_burst(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = x.shape[0]
    length = int(SAMPLE_RATE * rng.uniform(0.05, 0.25))
    start = int(rng.integers(0, n - length))
    envelope = np.exp(-np.arange(length) / (length / rng.uniform(2, 6)))
    level = np.max(np.abs(x)) * 10 ** (rng.uniform(0, 10) / 20)
    out = x.copy()
    out[start : start + length] += level * envelope * rng.normal(0, 1, size=length)
    return np.clip(out, -0.999, 0.999)


def dc_offset(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(x + rng.choice([-1.0, 1.0]) * rng.uniform(0.05, 0.3), -0.999, 0.999)


def hard_clip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    hot = x / np.max(np.abs(x)) * 10 ** (rng.uniform(12.0, 20.0) / 20.0)
    return np.clip(hot, -0.99, 0.99)


# Faults that change a recorded take (mislabels and wrong-frequency change what is recorded).
DAMAGE = {"dropout": dropout, "noise-burst": noise_burst, "dc-offset": dc_offset, "clip": hard_clip}
