"""Synthetic sine-tone recordings in the real layout, with planted faults.

    python -m datasets.demo_data --output-root data/demo --truth-file data/demo_truth.json \
        --mislabel 5 --clip 2 --seed 0

Physics, loosely but honestly: a speaker plays a sine tone; its harmonics lose level
relative to the fundamental as the angle grows, faster for higher harmonics and for
higher tones (directivity narrows with frequency); a wall reflection arrives with an
angle-dependent delay, which combs the harmonic levels; a noise floor and a slight pitch
drift are added; and every take gets a random gain, so loudness says nothing about angle.
Only the *shape* of the spectrum carries the angle.

Planted faults (listed in the truth file, which must live outside the data root):
- mislabel: a take recorded at one angle but saved in another angle's folder (>= 72 deg off);
- clip: a take recorded too hot and hard-clipped.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from utils.atomic_io import write_json_atomic, write_with_atomic
from utils.cli import config_from_args, make_parser, run_cli, setup_logging
from utils.constants import DEFAULT_ANGLES, DEFAULT_FREQUENCY, DEFAULT_MATERIAL, FREQUENCIES, SAMPLE_RATE, frequency_hz

log = logging.getLogger(__name__)

MIN_MISLABEL_OFFSET_DEG = 72
N_HARMONICS = 8
DURATION_S = 1.0
# Per-material reflection strength: softer materials reflect less.
MATERIAL_REFLECTION = {"plastic": 0.45, "box": 0.3, "wood": 0.4, "metal": 0.6}


@dataclass
class DemoDataConfig:
    output_root: Path
    materials: list[str] = field(default_factory=lambda: [DEFAULT_MATERIAL])
    frequencies: list[str] = field(default_factory=lambda: [DEFAULT_FREQUENCY])
    angles: list[int] = field(default_factory=lambda: list(DEFAULT_ANGLES))
    takes: int = 12
    seed: int = 0
    mislabel: int = 0
    clip: int = 0
    truth_file: Path | None = None


def sample_id(material: str, angle: int, frequency: str, seq: int) -> str:
    """`plastic_deg036_500hz_04`."""
    return f"{material}_deg{angle:03d}_{frequency}_{seq:02d}"


def harmonic_levels_db(f0: float, angle: float, rng: np.random.Generator) -> np.ndarray:
    """Level of harmonics 1..N relative to the fundamental at `angle` degrees, with take jitter. Shape (N,)."""
    k = np.arange(1, N_HARMONICS + 1, dtype=float)
    on_axis = -7.0 * (k - 1)  # harmonic distortion falls off with order
    # Off-axis roll-off grows with harmonic order and with the tone's frequency.
    narrowing = (f0 / 500.0) ** 0.5
    roll_off = -2.6 * (k - 1) * narrowing * (1.0 - np.cos(np.radians(angle))) / 2.0 * 6.0
    jitter = rng.normal(0.0, 1.2, size=k.shape)
    jitter[0] = 0.0
    return on_axis + roll_off + jitter


def synthesize_take(f0: float, angle: float, material: str, rng: np.random.Generator) -> np.ndarray:
    """One take at `angle`, float64 in [-1, 1]. Shape (samples,)."""
    n = int(SAMPLE_RATE * DURATION_S)
    t = np.arange(n) / SAMPLE_RATE
    drift = 1.0 + rng.normal(0.0, 0.002) + 0.001 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t)
    phase_base = 2 * np.pi * f0 * np.cumsum(drift) / SAMPLE_RATE
    levels = 10 ** (harmonic_levels_db(f0, angle, rng) / 20.0)
    direct = sum(
        amp * np.sin((k + 1) * phase_base + rng.uniform(0, 2 * np.pi)) for k, amp in enumerate(levels)
    )
    # Wall reflection: the path difference grows with angle (0.4 ms on axis to 2.2 ms at 180 deg).
    delay = int(round((0.4e-3 + 1.8e-3 * angle / 180.0 + rng.normal(0, 0.03e-3)) * SAMPLE_RATE))
    strength = MATERIAL_REFLECTION.get(material, 0.4) * rng.uniform(0.9, 1.1)
    signal = direct.copy()
    signal[delay:] += strength * direct[:-delay]
    fade = min(n // 20, 960)
    ramp = np.ones(n)
    ramp[:fade] = np.linspace(0, 1, fade)
    ramp[-fade:] = np.linspace(1, 0, fade)
    signal = signal * ramp / np.max(np.abs(signal))
    gain = 10 ** (rng.uniform(-18.0, -3.0) / 20.0)
    noise = rng.normal(0.0, 10 ** (-62 / 20.0), size=n)
    return gain * signal + noise


def hard_clip(signal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A take recorded 12-20 dB too hot: everything past the converter's full scale is flattened."""
    hot = signal / np.max(np.abs(signal)) * 10 ** (rng.uniform(12.0, 20.0) / 20.0)
    return np.clip(hot, -0.99, 0.99)


def _pick_faults(
    cfg: DemoDataConfig, ids: list[tuple[str, str, int, int]], rng: np.random.Generator
) -> tuple[set[int], set[int]]:
    """Indices into `ids` of the mislabeled and of the clipped takes (disjoint)."""
    total = cfg.mislabel + cfg.clip
    if total > len(ids):
        raise ValueError(f"cannot plant {total} faults in {len(ids)} recordings")
    chosen = rng.choice(len(ids), size=total, replace=False)
    mislabel_idx = set(int(i) for i in chosen[: cfg.mislabel])
    clip_idx = set(int(i) for i in chosen[cfg.mislabel :])
    return mislabel_idx, clip_idx


def generate(cfg: DemoDataConfig) -> dict:
    """Write every WAV and return the truth record (also written to `cfg.truth_file` if set)."""
    root = Path(cfg.output_root).resolve()
    if cfg.truth_file is not None:
        truth_path = Path(cfg.truth_file).resolve()
        if truth_path == root or root in truth_path.parents:
            raise ValueError(f"the truth file must live outside the data root {root}, got {truth_path}")
    for frequency in cfg.frequencies:
        frequency_hz(frequency)
    if len(set(cfg.angles)) < 2:
        raise ValueError("need at least two distinct angles")
    if cfg.mislabel and not any(abs(a - b) >= MIN_MISLABEL_OFFSET_DEG for a in cfg.angles for b in cfg.angles):
        raise ValueError(f"no two angles are {MIN_MISLABEL_OFFSET_DEG} degrees apart: cannot plant mislabels")

    rng = np.random.default_rng(cfg.seed)
    slots = [
        (m, f, a, s)
        for m in cfg.materials
        for f in cfg.frequencies
        for a in cfg.angles
        for s in range(1, cfg.takes + 1)
    ]
    mislabel_idx, clip_idx = _pick_faults(cfg, slots, rng)
    faults: dict[str, dict] = {}
    for i in sorted(mislabel_idx):
        m, f, a, s = slots[i]
        options = [b for b in cfg.angles if abs(b - a) >= MIN_MISLABEL_OFFSET_DEG]
        if not options:
            raise ValueError(f"angle {a} has no other angle {MIN_MISLABEL_OFFSET_DEG} degrees away to mislabel it with")
        true_angle = int(rng.choice(options))
        faults[sample_id(m, a, f, s)] = {"kind": "mislabel", "stored_angle": a, "true_angle": true_angle}
    for i in sorted(clip_idx):
        m, f, a, s = slots[i]
        faults[sample_id(m, a, f, s)] = {"kind": "clip", "stored_angle": a, "true_angle": a}

    written = 0
    for m, f, a, s in slots:
        sid = sample_id(m, a, f, s)
        # One generator per take, seeded from the run seed and the slot: adding takes or
        # faults elsewhere never changes this take's audio.
        take_rng = np.random.default_rng([cfg.seed, abs(hash_str(sid))])
        fault = faults.get(sid)
        angle = fault["true_angle"] if fault else a
        audio = synthesize_take(frequency_hz(f), angle, m, take_rng)
        if fault and fault["kind"] == "clip":
            audio = hard_clip(audio, take_rng)
        path = root / f"deg{a:03d}" / m / f"{sid}.wav"
        write_with_atomic(path, lambda h, x=audio: sf.write(h, x, SAMPLE_RATE, subtype="PCM_16", format="WAV"), binary=True)
        written += 1

    truth = {
        "seed": cfg.seed,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "faults": faults,
        "recordings": written,
    }
    if cfg.truth_file is not None:
        write_json_atomic(cfg.truth_file, truth)
    log.info("wrote %d recordings under %s (%d planted faults)", written, root, len(faults))
    return truth


def hash_str(text: str) -> int:
    """A stable 63-bit hash (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = DemoDataConfig(output_root=Path())
    p = make_parser(__doc__)
    p.add_argument("--output-root", type=Path, required=True, help="data root to write deg*/material/*.wav into")
    p.add_argument("--materials", nargs="+", default=d.materials)
    p.add_argument("--frequencies", nargs="+", default=d.frequencies, help=f"any of {', '.join(FREQUENCIES)}")
    p.add_argument("--angles", nargs="+", type=int, default=d.angles)
    p.add_argument("--takes", type=int, default=d.takes, help="takes per angle")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--mislabel", type=int, default=d.mislabel, help="takes saved under a wrong angle folder")
    p.add_argument("--clip", type=int, default=d.clip, help="hard-clipped takes")
    p.add_argument("--truth-file", type=Path, default=None, help="JSON of planted faults (outside the data root)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()
    if args.takes < 1:
        raise ValueError("--takes must be at least 1")
    cfg = config_from_args(DemoDataConfig, args)
    truth = generate(cfg)
    print(f"{truth['recordings']} recordings in {cfg.output_root}; planted faults: {len(truth['faults'])}")
    return 0


if __name__ == "__main__":
    run_cli(main, "demo_data")
