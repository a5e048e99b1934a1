"""Synthetic sine-tone recordings in the real layout, with planted faults.

    python -m datasets.demo_data --output-root data/demo --truth-file data/demo_truth.json \\
        --faults mislabel-far=3 mislabel-near=2 dropout wrong-frequency noise-burst dc-offset clip --seed 0
    python -m datasets.demo_data --output-root data/room --generator room --angles 0 30 60 90 120 150

Two physics (`datasets.acoustics`): `demo`, a speaker whose harmonics roll off with angle
plus angle-dependent wall reflections, every constant drawn per seed; and `room`, an
image-source model of a room with a piston speaker whose harmonics have their own
directivity. Each take gets a random gain, so only the *shape* of the spectrum carries the
angle. The planted faults (`datasets.faults`) are listed in the truth file, which must live
outside the data root; `--mislabel N` and `--clip N` are short for `--faults
mislabel-far=N clip=N`.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from datasets.acoustics import GENERATORS
from datasets.sample_id import SampleId
from datasets.faults import DAMAGE, FAULT_KINDS, other_frequency, parse_fault_counts, true_angle_for
from utils.atomic_io import write_json_atomic, write_with_atomic
from utils.cli import config_from_args, make_parser, run_cli, setup_logging
from utils.constants import DEFAULT_ANGLES, DEFAULT_FREQUENCY, DEFAULT_MATERIAL, FREQUENCIES, SAMPLE_RATE, frequency_hz

log = logging.getLogger(__name__)

MIN_MISLABEL_OFFSET_DEG = 72  # a far mislabel with the default angles


@dataclass
class DemoDataConfig:
    output_root: Path
    materials: list[str] = field(default_factory=lambda: [DEFAULT_MATERIAL])
    frequencies: list[str] = field(default_factory=lambda: [DEFAULT_FREQUENCY])
    angles: list[int] = field(default_factory=lambda: list(DEFAULT_ANGLES))
    takes: int = 12
    seed: int = 0
    generator: str = "demo"
    faults: dict[str, int] = field(default_factory=dict)
    mislabel: int = 0
    clip: int = 0
    truth_file: Path | None = None

    def fault_counts(self) -> dict[str, int]:
        """Every kind's count: `faults` plus the `mislabel` (far) and `clip` shorthands."""
        counts = {kind: self.faults.get(kind, 0) for kind in FAULT_KINDS}
        counts["mislabel-far"] += self.mislabel
        counts["clip"] += self.clip
        return counts


def _check(cfg: DemoDataConfig, root: Path) -> None:
    if cfg.truth_file is not None:
        truth_path = Path(cfg.truth_file).resolve()
        if truth_path == root or root in truth_path.parents:
            raise ValueError(f"the truth file must live outside the data root {root}, got {truth_path}")
    for frequency in cfg.frequencies:
        frequency_hz(frequency)
    if cfg.generator not in GENERATORS:
        raise ValueError(f"unknown generator {cfg.generator!r}: choose one of {', '.join(GENERATORS)}")
    if len(set(cfg.angles)) < 2 or any(not 0 <= a <= 359 for a in cfg.angles):
        raise ValueError("need at least two distinct angles, each from 0 to 359 degrees")
    if cfg.takes < 1:
        raise ValueError("--takes must be at least 1")


def plan_faults(cfg: DemoDataConfig, slots: list[tuple[str, str, int, int]], rng: np.random.Generator) -> dict[str, dict]:
    """sample id -> {kind, stored_angle, true_angle[, recorded_frequency]} for distinct random slots."""
    kinds = [kind for kind, count in cfg.fault_counts().items() for _ in range(count)]
    if len(kinds) > len(slots):
        raise ValueError(f"cannot plant {len(kinds)} faults in {len(slots)} recordings")
    chosen = rng.choice(len(slots), size=len(kinds), replace=False)
    faults: dict[str, dict] = {}
    for kind, i in zip(kinds, chosen):
        m, f, a, s = slots[int(i)]
        fault = {"kind": kind, "stored_angle": a, "true_angle": true_angle_for(kind, a, cfg.angles, rng)}
        if kind == "wrong-frequency":
            fault["recorded_frequency"] = other_frequency(f, rng)
        faults[str(SampleId.of(m, a, f, s))] = fault
    return faults


def generate(cfg: DemoDataConfig) -> dict:
    """Write every WAV and return the truth record (also written to `cfg.truth_file` if set)."""
    root = Path(cfg.output_root).resolve()
    _check(cfg, root)
    rng = np.random.default_rng(cfg.seed)
    slots = [(m, f, a, s) for m in cfg.materials for f in cfg.frequencies for a in cfg.angles
             for s in range(1, cfg.takes + 1)]
    faults = plan_faults(cfg, slots, rng)
    physics = {m: GENERATORS[cfg.generator](cfg.seed, m) for m in cfg.materials}
    for m, f, a, s in slots:
        sample = SampleId.of(m, a, f, s)
        sid = str(sample)
        # One generator per take, seeded from the run seed and the slot: adding takes or
        # faults elsewhere never changes this take's audio.
        take_rng = np.random.default_rng([cfg.seed, abs(hash_str(sid))])
        fault = faults.get(sid, {})
        recorded = fault.get("recorded_frequency", f)
        audio = physics[m].take(frequency_hz(recorded), fault.get("true_angle", a), take_rng)
        if fault.get("kind") in DAMAGE:
            audio = DAMAGE[fault["kind"]](audio, take_rng)
        path = sample.wav_path(root)
        write_with_atomic(path, lambda h, x=audio: sf.write(h, x, SAMPLE_RATE, subtype="PCM_16", format="WAV"), binary=True)

    truth = {
        "seed": cfg.seed,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "physics": {m: p.describe() for m, p in physics.items()},
        "faults": faults,
        "recordings": len(slots),
    }
    if cfg.truth_file is not None:
        write_json_atomic(cfg.truth_file, truth)
    log.info("wrote %d recordings under %s (%d planted faults)", len(slots), root, len(faults))
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
    p.add_argument("--generator", choices=sorted(GENERATORS), default=d.generator,
                   help="demo: speaker roll-off and reflections; room: an image-source room with a piston speaker")
    p.add_argument("--faults", nargs="+", default=[], metavar="KIND[=N]",
                   help=f"faults to plant (N defaults to 1); kinds: {', '.join(FAULT_KINDS)}")
    p.add_argument("--mislabel", type=int, default=d.mislabel, help="short for --faults mislabel-far=N")
    p.add_argument("--clip", type=int, default=d.clip, help="short for --faults clip=N")
    p.add_argument("--truth-file", type=Path, default=None, help="JSON of planted faults (outside the data root)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()
    cfg = config_from_args(DemoDataConfig, args, faults=parse_fault_counts(args.faults))
    truth = generate(cfg)
    print(f"{truth['recordings']} recordings in {cfg.output_root}; planted faults: {len(truth['faults'])}")
    return 0


if __name__ == "__main__":
    run_cli(main, "demo_data")
