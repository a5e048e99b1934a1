"""Two independent ways to synthesise one take of a sine tone at an angle.

`SpeakerModel` (generator `demo`) is the toolkit's original physics with every constant
drawn per seed; `RoomModel` (generator `room`) is a different simulation, an image-source
model of a room, so that the exclusion rules are never measured on one data set only.
Each model is built from a seed and answers `take(f0, angle, rng)` -> float64 samples in
[-1, 1]. Only the *shape* of the spectrum carries the angle: every take gets a random gain.
"""
from __future__ import annotations

import numpy as np

from utils.constants import SAMPLE_RATE

N_HARMONICS = 8
DURATION_S = 1.0
SPEED_OF_SOUND = 343.0
# Per-material reflection strength: softer materials reflect less.
MATERIAL_REFLECTION = {"plastic": 0.45, "box": 0.3, "wood": 0.4, "metal": 0.6}


def finish_take(signal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fade in and out, normalise, apply a random gain of -18 to -3 dB and a -62 dB noise floor."""
    n = signal.shape[0]
    fade = min(n // 20, 960)
    ramp = np.ones(n)
    ramp[:fade] = np.linspace(0, 1, fade)
    ramp[-fade:] = np.linspace(1, 0, fade)
    signal = signal * ramp / np.max(np.abs(signal))
    gain = 10 ** (rng.uniform(-18.0, -3.0) / 20.0)
    return gain * signal + rng.normal(0.0, 10 ** (-62 / 20.0), size=n)


def drifting_phase(f0: float, rng: np.random.Generator) -> np.ndarray:
    """Phase of a tone whose pitch drifts slightly within the take. Shape (samples,)."""
    n = int(SAMPLE_RATE * DURATION_S)
    t = np.arange(n) / SAMPLE_RATE
    drift = 1.0 + rng.normal(0.0, 0.002) + 0.001 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t)
    return 2 * np.pi * f0 * np.cumsum(drift) / SAMPLE_RATE


class SpeakerModel:
    """Harmonics that lose level off axis (faster for higher harmonics and higher tones) plus
    wall reflections whose delays depend on the angle and comb the harmonic levels.

    Drawn per seed: the on-axis harmonic profile (slope per order and an offset per harmonic),
    how fast the harmonics roll off with angle, and one to three reflections (delay on axis,
    how the delay changes with angle, strength).
    """

    def __init__(self, seed: int, material: str):
        r = np.random.default_rng([seed, 7701])
        self.slope_db = r.uniform(-10.0, -4.0)
        self.offsets_db = np.concatenate([[0.0], r.normal(0.0, 4.0, N_HARMONICS - 1)])
        self.roll_off = r.uniform(1.5, 3.5)
        strength = MATERIAL_REFLECTION.get(material, 0.4) / 0.45
        self.reflections = [
            (r.uniform(0.2e-3, 1.5e-3), r.choice([-1.0, 1.0]) * r.uniform(0.5e-3, 3.0e-3), strength * r.uniform(0.15, 0.55))
            for _ in range(int(r.integers(1, 4)))
        ]

    def describe(self) -> dict:
        return {"slope_db": self.slope_db, "offsets_db": self.offsets_db.tolist(), "roll_off": self.roll_off,
                "reflections_s_s_gain": [list(x) for x in self.reflections]}

    def harmonic_levels_db(self, f0: float, angle: float, rng: np.random.Generator) -> np.ndarray:
        """Level of harmonics 1..N relative to the fundamental at `angle` degrees, with take jitter. Shape (N,)."""
        k = np.arange(1, N_HARMONICS + 1, dtype=float)
        narrowing = (f0 / 500.0) ** 0.5  # directivity narrows with frequency
        roll_off = -self.roll_off * (k - 1) * narrowing * (1.0 - np.cos(np.radians(angle))) / 2.0 * 6.0
        jitter = rng.normal(0.0, 1.2, size=k.shape)
        jitter[0] = 0.0
        return self.slope_db * (k - 1) + self.offsets_db + roll_off + jitter

    def take(self, f0: float, angle: float, rng: np.random.Generator) -> np.ndarray:
        phase = drifting_phase(f0, rng)
        levels = 10 ** (self.harmonic_levels_db(f0, angle, rng) / 20.0)
        direct = sum(amp * np.sin((k + 1) * phase + rng.uniform(0, 2 * np.pi)) for k, amp in enumerate(levels))
        signal = direct.copy()
        for on_axis, per_180, strength in self.reflections:
            delay_s = abs(on_axis + per_180 * angle / 180.0) + 0.1e-3 + rng.normal(0, 0.03e-3)
            delay = max(1, int(round(delay_s * SAMPLE_RATE)))
            signal[delay:] += strength * rng.uniform(0.9, 1.1) * direct[:-delay]
        return finish_take(signal, rng)


def bessel_j1(x: np.ndarray) -> np.ndarray:
    """J1(x) = (1/pi) int_0^pi cos(t - x sin t) dt, by a 200-point midpoint rule (error < 1e-5 for |x| < 20)."""
    t = (np.arange(200) + 0.5) * np.pi / 200
    x = np.asarray(x, dtype=float)
    return np.cos(t - x[..., None] * np.sin(t)).mean(axis=-1)


class RoomModel:
    """Steady state of a shoebox room, by image sources up to second order.

    The speaker, a baffled piston in a cabinet, turns by `angle` away from the microphone.
    Each harmonic leaves it with its own directivity, |2 J1(ka sin t) / (ka sin t)| times a
    cabinet shadow that grows with ka behind the box, along the direct path and along every
    wall image; walls absorb more at high frequency. A harmonic at the microphone is the
    complex sum of its paths. Drawn per seed: room size, positions, piston radius, cabinet
    shadow, the speaker's harmonic profile and each wall's reflection. Per take: a few
    millimetres of microphone jitter, random harmonic phases, pitch, a pink noise floor, gain.
    """

    def __init__(self, seed: int, material: str):
        r = np.random.default_rng([seed, 4242])
        self.room = np.array([r.uniform(3.5, 8.0), r.uniform(3.0, 6.0), r.uniform(2.4, 3.5)])
        self.source = self.room * np.array([r.uniform(0.3, 0.7), r.uniform(0.3, 0.7), r.uniform(0.3, 0.5)])
        heading = r.uniform(0, 2 * np.pi)
        self.mic = np.clip(self.source + r.uniform(0.8, 1.6) * np.array([np.cos(heading), np.sin(heading), 0.0]),
                           0.3, self.room - 0.3)
        self.radius = r.uniform(0.03, 0.09)
        self.shadow = r.uniform(2.0, 6.0)
        self.harmonics_db = np.concatenate([[0.0], np.sort(r.uniform(-45, -12, N_HARMONICS - 1))[::-1]
                                            + r.normal(0, 3, N_HARMONICS - 1)])
        strength = MATERIAL_REFLECTION.get(material, 0.4) / 0.45
        self.wall_low = np.clip(strength * r.uniform(0.5, 0.9, 6), 0.05, 0.98)  # reflection at low frequency
        self.wall_high = r.uniform(0.3, 1.0, 6)  # share of it left at 4 kHz
        self.images = self._image_sources()

    def describe(self) -> dict:
        return {"room_m": self.room.tolist(), "piston_radius_m": self.radius, "shadow": self.shadow,
                "harmonics_db": self.harmonics_db.tolist()}

    def _mirror(self, point: np.ndarray, wall: int) -> np.ndarray:
        axis, far = divmod(wall, 2)
        out = point.copy()
        out[axis] = 2 * self.room[axis] - out[axis] if far else -out[axis]
        return out

    def _image_sources(self) -> list[tuple[np.ndarray, tuple[int, ...]]]:
        """(position, walls hit) of the direct path and of every image up to order two."""
        first = [(self._mirror(self.source, w), (w,)) for w in range(6)]
        second = [(self._mirror(p, w), walls + (w,)) for p, walls in first for w in range(6) if w != walls[0]]
        return [(self.source.copy(), ())] + first + second

    def directivity(self, f: float, theta: float) -> float:
        theta = float(np.clip(theta, 0.0, np.pi))
        ka = 2 * np.pi * f / SPEED_OF_SOUND * self.radius
        x = ka * np.sin(min(theta, np.pi / 2))
        piston = 1.0 if abs(x) < 1e-6 else float(2 * bessel_j1(np.array(x)) / x)
        # The cabinet shadows what leaves sideways and behind, more at high frequency.
        shadow = 1.0 / np.sqrt(1.0 + (self.shadow * ka * (1 - np.cos(theta)) / 2) ** 2)
        return abs(piston) * shadow

    def take(self, f0: float, angle: float, rng: np.random.Generator) -> np.ndarray:
        n = int(SAMPLE_RATE * DURATION_S)
        mic = self.mic + rng.normal(0, 0.005, 3)
        to_mic = mic - self.source
        aim = np.arctan2(to_mic[1], to_mic[0]) + np.radians(angle)
        axis = np.array([np.cos(aim), np.sin(aim), 0.0])
        t = np.arange(n) / SAMPLE_RATE
        pitch = 1.0 + rng.normal(0.0, 0.0015)
        signal = np.zeros(n)
        for h in range(N_HARMONICS):
            f = f0 * (h + 1) * pitch
            if f > SAMPLE_RATE / 2 - 1000:
                continue
            total = 0j
            for position, walls in self.images:
                path = mic - position
                mirrored = axis.copy()
                for w in walls:  # an image radiates as the mirrored speaker would
                    mirrored[w // 2] = -mirrored[w // 2]
                distance = float(np.linalg.norm(path))
                theta = float(np.arccos(np.clip(np.dot(path, mirrored) / distance, -1, 1)))
                gain = self.directivity(f, theta) / distance
                for w in walls:
                    gain *= self.wall_low[w] * self.wall_high[w] ** (f / 4000.0)
                total += gain * np.exp(-2j * np.pi * f * distance / SPEED_OF_SOUND)
            amp = 10 ** ((self.harmonics_db[h] + (rng.normal(0, 1.0) if h else 0.0)) / 20) * abs(total)
            signal += amp * np.sin(2 * np.pi * f * t + np.angle(total) + rng.uniform(0, 2 * np.pi))
        pink = np.cumsum(rng.normal(0, 1, n))
        pink -= np.convolve(pink, np.ones(64) / 64, mode="same")
        signal = signal / np.max(np.abs(signal)) + 10 ** (-55 / 20) * pink / (np.std(pink) + 1e-12)
        return finish_take(signal, rng)


GENERATORS = {"demo": SpeakerModel, "room": RoomModel}
