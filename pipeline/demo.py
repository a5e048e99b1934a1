"""The whole tutorial on built-in demo recordings with planted faults, and an honest report.

    python -m pipeline.demo                       # seed 0, writes demo_output/seed_0/report.md
    python -m pipeline.demo --seed 3 --takes 24 --generator room

Steps (each one the real command-line script, printed as it runs):
  1. generate recordings (6 angles x 12 takes at 500 Hz; planted: 3 far and 2 near
     mislabels, a dropout, a take of another frequency, a noise burst, a DC offset, a
     clipped take) and a truth file outside the data root;
  2. train.py: the baseline, with every training seed (--training-seeds);
  3. compute_tracin_influence.py (on the first baseline);
  4. generate_tracin_exclusions.py with the tutorial's own flags, with no flags (the default
     rule), and with each --criterion;
  5. train.py --exclusions-file for every list and two controls (as many random training
     recordings, and an oracle that drops exactly the planted training faults), with every
     training seed;
  6. report.md + PNGs. Only this step reads the truth file. Accuracy is measured on the
     holdout split, fixed before any exclusion and never seen by TracIn, on pairs that
     contain no planted fault, and averaged over the training seeds.
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from datasets.acoustics import GENERATORS
from datasets.exclusions import load_exclusions, tool_notes
from influence.config import DEFAULT_MEASUREMENT, MEASUREMENTS
from pipeline.evaluate import clean_holdout_score, detection_score
from pipeline.report import write_seed_report
from pipeline.steps import StepFailed, StepRunner
from training.config import TrainConfig
from utils.atomic_io import json_safe, read_json, write_json_atomic, write_text_atomic
from utils.cli import add_execution_args, make_parser, run_cli, setup_logging
from utils.constants import (
    CHECKPOINT_PREFIX,
    CRITERIA,
    DEFAULT_CRITERION,
    DEFAULT_FREQUENCY,
    DEFAULT_MATERIAL,
    EXCLUSIONS_DIR,
    METADATA_DIR,
    RUN_FILE,
    angle_of,
    exclusions_file_name,
    influence_file_name,
)
from utils.threads import apply_threads

DEFAULT_FAULTS = ("mislabel-far=3", "mislabel-near=2", "dropout", "wrong-frequency", "noise-burst", "dc-offset", "clip")
TUTORIAL_FLAGS = ("--threshold", "-3.0", "--min-occurrences", "5", "--max-exclusions", "30", "--consider-both-samples")
"""The tutorial's step-2 command, to the letter (users-tutorial.zh-TW.md)."""
TUTORIAL, DEFAULT, RANDOM, ORACLE = "tutorial", "default", "random", "oracle"
SUGGESTED_RE = re.compile(r"suggested angle (-?\d+(?:\.\d+)?)")


@dataclass
class DemoConfig:
    output_dir: Path = Path("demo_output")
    seed: int = 0
    material: str = DEFAULT_MATERIAL
    frequency: str = DEFAULT_FREQUENCY
    generator: str = "demo"
    takes: int = 12
    angles: list[int] | None = None
    faults: list[str] = field(default_factory=lambda: list(DEFAULT_FAULTS))
    epochs: int = TrainConfig.epochs
    checkpoint_interval: int = TrainConfig.checkpoint_interval
    training_seeds: int = 3
    measurement: str = DEFAULT_MEASUREMENT
    compare_criteria: bool = True
    controls: bool = True
    extra_train_args: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.training_seeds < 1:
            raise ValueError("--training-seeds must be at least 1")
        if self.generator not in GENERATORS:
            raise ValueError(f"unknown --generator {self.generator!r}: choose one of {', '.join(GENERATORS)}")

    @property
    def seed_dir(self) -> Path:
        return Path(self.output_dir) / f"seed_{self.seed}"

    def train_seeds(self) -> list[int]:
        """The data seed first (its run is the one TracIn reads), then seeds 1000, 2000... apart."""
        return [self.seed + 1000 * k for k in range(self.training_seeds)]


def _write_list(path: Path, ids: list[str], why: str) -> None:
    write_text_atomic(path, f"# {why}\n" + "".join(f"{s}\n" for s in ids))


def suggested_angles(list_file: Path) -> dict[str, float]:
    """sample id -> suggested angle, from the tool's note on each listed id (the `# tracin:` line above it,
    or after it in lists of earlier versions); the stored angle when the note gives none."""
    notes = tool_notes(list_file)
    out = {}
    for sid in load_exclusions(list_file).ids:
        found = SUGGESTED_RE.search(notes.get(sid, ""))
        out[sid] = float(found.group(1)) if found else float(angle_of(sid))
    return out


class Demo:
    """One seed's run: the steps of the module docstring, in order."""

    def __init__(self, cfg: DemoConfig):
        self.cfg = cfg
        self.dir = cfg.seed_dir.resolve()
        self.data = self.dir / "data"
        lists = 2 + (len(CRITERIA) - 1 if cfg.compare_criteria else 0)
        trainings = cfg.training_seeds * (1 + lists + (2 if cfg.controls else 0))
        self.steps = StepRunner(self.dir / "logs", 2 + lists + trainings)
        self.lists: dict[str, Path] = {}
        self.runs: dict[str, list[Path]] = {}
        self._trained: dict[tuple[str, ...], list[Path]] = {}

    def train_args(self, seed: int) -> list[str]:
        c = self.cfg
        return ["train.py", "--frequency", c.frequency, "--material", c.material, "--data-root", str(self.data),
                "--seed", str(seed), "--split-seed", str(c.seed), "--epochs", str(c.epochs),
                "--checkpoint-interval", str(c.checkpoint_interval), *self.steps.progress_flag, *c.extra_train_args]

    def generate_data(self) -> None:
        c = self.cfg
        argv = ["-m", "datasets.demo_data", "--output-root", str(self.data), "--materials", c.material,
                "--frequencies", c.frequency, "--takes", str(c.takes), "--seed", str(c.seed), "--generator", c.generator,
                "--truth-file", str(self.dir / "truth.json")]
        if c.angles:
            argv += ["--angles", *map(str, c.angles)]
        if c.faults:
            argv += ["--faults", *c.faults]
        self.steps.run("generate recordings", argv)

    def baselines(self) -> Path:
        """Train the baseline with every training seed; return the first run's folder (TracIn reads it)."""
        runs = []
        for k, seed in enumerate(self.cfg.train_seeds()):
            name = f"{self.cfg.material}_{self.cfg.frequency}_standard" if k == 0 else f"baseline_seed{seed}"
            extra = [] if k == 0 else ["--run-name", name]
            self.steps.run(f"train baseline, seed {seed}", [*self.train_args(seed), *extra])
            runs.append(self.data / "checkpoints" / name)
        self.runs["baseline"] = runs
        return runs[0]

    def compute(self, baseline: Path) -> Path:
        c = self.cfg
        self.steps.run("compute TracIn", [
            "compute_tracin_influence.py", "--frequency", c.frequency, "--material", c.material,
            "--checkpoint-dir", str(baseline), "--checkpoint-prefix", CHECKPOINT_PREFIX,
            "--metadata-dir", str(self.data / METADATA_DIR), "--compute-influence", "--measurement", c.measurement,
            *self.steps.progress_flag,
        ])
        return self.data / METADATA_DIR / influence_file_name(c.material, c.frequency)

    def make_lists(self, influence_file: Path) -> None:
        m, f = self.cfg.material, self.cfg.frequency
        base = ["generate_tracin_exclusions.py", "--metadata-file", str(influence_file)]
        tutorial = self.data / EXCLUSIONS_DIR / exclusions_file_name(m, f)
        self.steps.run("exclusions, the tutorial's command", [
            *base, "--output-file", str(tutorial), *TUTORIAL_FLAGS, "--verbose", "--update-metadata",
            "--plot", str(self.dir / "excluded_recordings.png")])
        self.lists[TUTORIAL] = tutorial
        self.lists[DEFAULT] = self.dir / "criteria" / "default.txt"
        self.steps.run("exclusions, no flags", [*base, "--output-file", str(self.lists[DEFAULT])])
        if self.cfg.compare_criteria:
            for criterion in CRITERIA:
                if criterion != DEFAULT_CRITERION:
                    self.lists[criterion] = self.dir / "criteria" / f"{criterion}.txt"
                    self.steps.run(f"exclusions, criterion {criterion}", [
                        *base, "--output-file", str(self.lists[criterion]), *TUTORIAL_FLAGS, "--criterion", criterion])

    def controls(self, train_ids: list[str], faults: dict[str, Any]) -> None:
        """A random list as long as the tutorial's, and the oracle (only now is the truth file read)."""
        chosen = load_exclusions(self.lists[TUTORIAL]).ids
        rng = np.random.default_rng(self.cfg.seed + 1000)
        random_ids = sorted(rng.choice(train_ids, size=min(len(chosen), len(train_ids)), replace=False).tolist())
        oracle_ids = [s for s in train_ids if s in faults]
        self.lists[RANDOM] = self.dir / "controls" / "random.txt"
        self.lists[ORACLE] = self.dir / "controls" / "oracle.txt"
        _write_list(self.lists[RANDOM], random_ids, f"control: {len(random_ids)} random training recordings")
        _write_list(self.lists[ORACLE], oracle_ids, "control: exactly the planted faults in the training split")

    def retrain(self, label: str) -> None:
        """Train without `label`'s list with every training seed; a list equal to one already trained reuses it."""
        ids = tuple(sorted(load_exclusions(self.lists[label]).ids))
        if ids in self._trained:
            self.runs[label] = self._trained[ids]
            return
        runs = []
        for seed in self.cfg.train_seeds():
            name = f"retrain_{label}_seed{seed}"
            self.steps.run(f"retrain without the {label} list, seed {seed}", [
                *self.train_args(seed), "--exclusions-file", str(self.lists[label]), "--run-name", name])
            runs.append(self.data / "checkpoints" / name)
        self.runs[label] = self._trained[ids] = runs


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    """Run every step for one seed; return the results (also written to results.json)."""
    started = time.perf_counter()
    demo = Demo(cfg)
    if demo.dir.exists():
        shutil.rmtree(demo.dir)  # the demo's own output: always rebuilt from the seed
    demo.generate_data()
    baseline = demo.baselines()
    demo.make_lists(demo.compute(baseline))
    run_info = read_json(baseline / RUN_FILE, "run file")
    train_ids = sorted(run_info["split"]["train"])
    # Only from here on is the truth file read: to build the oracle and to score.
    faults = read_json(demo.dir / "truth.json", "truth file")["faults"]
    if cfg.controls:
        demo.controls(train_ids, faults)
    distinct = {tuple(sorted(load_exclusions(path).ids)) for path in demo.lists.values()}
    demo.steps.total = demo.steps.done + len(distinct) * cfg.training_seeds  # equal lists are trained once
    for label in demo.lists:
        demo.retrain(label)

    holdout = {}
    for label, runs in demo.runs.items():
        scores = [asdict(clean_holdout_score(path, faults)) for path in runs]
        holdout[label] = {"runs": scores, **{k: float(np.mean([s[k] for s in scores])) for k in scores[0]}}
    results: dict[str, Any] = {
        "seed": cfg.seed,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "training_seeds": cfg.train_seeds(),
        "split_counts": {k: len(v) for k, v in run_info["split"].items()},
        "faults": faults,
        "fault_split": {s: next((n for n, ids in run_info["split"].items() if s in ids), "?") for s in faults},
        "lists": {label: load_exclusions(path).ids for label, path in demo.lists.items()},
        "detection": {label: asdict(detection_score(load_exclusions(path).ids, train_ids, faults, suggested_angles(path)))
                      for label, path in demo.lists.items()},
        "holdout": holdout,
        "runs": {label: [str(p) for p in runs] for label, runs in demo.runs.items()},
        "step_seconds": demo.steps.seconds,
    }
    results["seconds"] = round(time.perf_counter() - started, 1)
    write_json_atomic(demo.dir / "results.json", json_safe(results))
    write_seed_report(results, demo.dir)
    return results


def add_demo_args(p: argparse.ArgumentParser) -> None:
    d = DemoConfig()
    p.add_argument("--output-dir", type=Path, default=d.output_dir, help="demo_output/seed_<N>/ for each seed")
    p.add_argument("--generator", choices=sorted(GENERATORS), default=d.generator,
                   help="demo: speaker roll-off and reflections; room: an image-source room (datasets.acoustics)")
    p.add_argument("--takes", type=int, default=d.takes, help="takes per angle")
    p.add_argument("--angles", type=int, nargs="+", default=None, help="default: 0 36 72 108 144 180")
    p.add_argument("--faults", nargs="*", default=d.faults, metavar="KIND[=N]", help="what to plant (datasets.faults)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--checkpoint-interval", type=int, default=d.checkpoint_interval)
    p.add_argument("--training-seeds", type=int, default=d.training_seeds,
                   help="every list (and the baseline and controls) is trained with this many seeds, averaged")
    p.add_argument("--measurement", choices=MEASUREMENTS, default=d.measurement, help="compute_tracin_influence.py's")
    p.add_argument("--no-controls", action="store_true", help="skip the random and oracle retrains")
    p.add_argument("--no-compare", action="store_true", help="skip the lists of the single criteria")
    add_execution_args(p)  # --threads: this process and every step it runs (they inherit it)


def config_from_args(args: argparse.Namespace, seed: int) -> DemoConfig:
    return DemoConfig(
        output_dir=args.output_dir, seed=seed, generator=args.generator, takes=args.takes, angles=args.angles,
        faults=list(args.faults), epochs=args.epochs, checkpoint_interval=args.checkpoint_interval,
        training_seeds=args.training_seeds, measurement=args.measurement, compare_criteria=not args.no_compare,
        controls=not args.no_controls,
    )


def main(argv: list[str] | None = None) -> int:
    p = make_parser(__doc__)
    p.add_argument("--seed", type=int, default=0, help="draws the recordings, the faults and the split")
    add_demo_args(p)
    args = p.parse_args(argv)
    setup_logging()
    apply_threads(args.threads)
    try:
        results = run_demo(config_from_args(args, args.seed))
    except StepFailed as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 1
    seed_dir = Path(args.output_dir) / f"seed_{args.seed}"
    print()
    print((seed_dir / "summary.txt").read_text(), end="")
    print(f"report: {seed_dir / 'report.md'}  ({results['seconds']} s in all)")
    return 0


if __name__ == "__main__":
    run_cli(main, "demo")
