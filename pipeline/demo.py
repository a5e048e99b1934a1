"""The whole tutorial on built-in demo recordings with planted faults, and an honest report.

    python -m pipeline.demo                       # seed 0, writes demo_output/seed_0/report.md
    python -m pipeline.demo --seed 3 --mislabel 8

Steps (each one the real command-line script, printed as it runs):
  1. generate recordings (6 angles x 12 takes at 500 Hz; 5 mislabeled, 2 clipped) and a
     truth file outside the data root;
  2. train.py: the baseline;
  3. compute_tracin_influence.py;
  4. generate_tracin_exclusions.py;
  5. train.py --exclusions-file: the retrain;
  6. controls (random recordings, and an oracle that drops exactly the planted training
     faults) and the other --criterion options, each retrained the same way;
  7. report.md + PNGs. Only this step reads the truth file. Accuracy is measured on the
     holdout split, fixed before any exclusion and never seen by TracIn, on pairs that
     contain no planted fault.
"""
from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from datasets.exclusions import load_exclusions
from pipeline.evaluate import clean_holdout_score, detection_score
from pipeline.report import write_seed_report
from training.config import TrainConfig
from utils.atomic_io import json_safe, read_json, write_json_atomic, write_text_atomic
from utils.cli import config_from_args, make_parser, run_cli, setup_logging
from utils.constants import (
    CHECKPOINT_PREFIX,
    CRITERIA,
    CRITERION_SELF_INFLUENCE,
    DEFAULT_FREQUENCY,
    DEFAULT_MATERIAL,
    EXCLUSIONS_DIR,
    METADATA_DIR,
    RUN_FILE,
    exclusions_file_name,
    influence_file_name,
)

REPO = Path(__file__).resolve().parent.parent


@dataclass
class DemoConfig:
    output_dir: Path = Path("demo_output")
    seed: int = 0
    material: str = DEFAULT_MATERIAL
    frequency: str = DEFAULT_FREQUENCY
    takes: int = 12
    mislabel: int = 5
    clip: int = 2
    epochs: int = TrainConfig.epochs
    checkpoint_interval: int = TrainConfig.checkpoint_interval
    criterion: str = CRITERION_SELF_INFLUENCE
    expected_fault_rate: float = 0.1
    compare_criteria: bool = True
    controls: bool = True
    extra_train_args: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 < self.expected_fault_rate < 1:
            raise ValueError("--expected-fault-rate must be between 0 and 1")

    @property
    def seed_dir(self) -> Path:
        return Path(self.output_dir) / f"seed_{self.seed}"


class StepFailed(Exception):
    """A pipeline step exited non-zero; the message names the step, its last line and its log."""


class StepRunner:
    """Runs the toolkit's scripts as a user would, logging each one's output to a file."""

    def __init__(self, log_dir: Path, total: int):
        self.log_dir = log_dir
        self.total = total
        self.done = 0
        self.seconds: dict[str, float] = {}
        log_dir.mkdir(parents=True, exist_ok=True)

    def run(self, name: str, argv: list[str]) -> str:
        self.done += 1
        shown = " ".join(argv)
        print(f"[{self.done}/{self.total}] {name}: python {shown}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, *argv], cwd=REPO, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
        self.seconds[name] = round(seconds, 2)
        log = self.log_dir / f"{self.done:02d}_{name.replace(' ', '_')}.log"
        write_text_atomic(log, f"$ python {shown}\n\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise StepFailed(f"step '{name}' failed (exit {proc.returncode}): {tail[0]}  [log: {log}]")
        print(f"      done in {seconds:.1f} s", flush=True)
        return proc.stdout


def _write_list(path: Path, ids: list[str], why: str) -> None:
    write_text_atomic(path, f"# {why}\n" + "".join(f"{s}\n" for s in ids))


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    """Run every step for one seed; return the results (also written to results.json)."""
    started = time.perf_counter()
    seed_dir = cfg.seed_dir.resolve()
    if seed_dir.exists():
        shutil.rmtree(seed_dir)  # the demo's own output: always rebuilt from the seed
    data = seed_dir / "data"
    truth_file = seed_dir / "truth.json"
    m, f = cfg.material, cfg.frequency
    n_steps = 5 + (2 if cfg.controls else 0) + (2 * (len(CRITERIA) - 1) if cfg.compare_criteria else 0)
    steps = StepRunner(seed_dir / "logs", n_steps)
    common = ["--frequency", f, "--material", m, "--data-root", str(data), "--seed", str(cfg.seed), "--no-progress",
              "--epochs", str(cfg.epochs), "--checkpoint-interval", str(cfg.checkpoint_interval), *cfg.extra_train_args]

    steps.run("generate recordings", [
        "-m", "datasets.demo_data", "--output-root", str(data), "--materials", m, "--frequencies", f,
        "--takes", str(cfg.takes), "--seed", str(cfg.seed), "--mislabel", str(cfg.mislabel), "--clip", str(cfg.clip),
        "--truth-file", str(truth_file),
    ])
    steps.run("train baseline", ["train.py", *common])
    baseline = TrainConfig(frequency=f, material=m, data_root=data)  # names the run folders as train.py does
    baseline_dir = baseline.run_dir
    steps.run("compute TracIn", [
        "compute_tracin_influence.py", "--frequency", f, "--material", m, "--checkpoint-dir", str(baseline_dir),
        "--checkpoint-prefix", CHECKPOINT_PREFIX, "--metadata-dir", str(data / METADATA_DIR),
        "--compute-influence", "--no-progress",
    ])
    run_info = read_json(baseline_dir / RUN_FILE, "run file")
    train_ids = sorted(run_info["split"]["train"])
    max_excl = max(1, math.ceil(cfg.expected_fault_rate * len(train_ids)))
    influence_file = data / METADATA_DIR / influence_file_name(m, f)
    lists: dict[str, Path] = {}

    def generate(criterion: str, out: Path, tutorial: bool) -> None:
        argv = ["generate_tracin_exclusions.py", "--metadata-file", str(influence_file), "--output-file", str(out),
                "--criterion", criterion, "--threshold", "auto", "--min-occurrences", "5",
                "--max-exclusions", str(max_excl)]
        if criterion == "pairs":
            argv.append("--consider-both-samples")
        if tutorial:
            argv += ["--verbose", "--update-metadata", "--plot", str(seed_dir / "excluded_recordings.png")]
        steps.run(f"exclusions ({criterion})", argv)
        lists[criterion] = out

    generate(cfg.criterion, data / EXCLUSIONS_DIR / exclusions_file_name(m, f), tutorial=True)
    runs = {"baseline": baseline_dir}

    def retrain(label: str, exclusions: Path) -> None:
        run = replace(baseline, exclusions_file=exclusions, run_name=f"retrain_{label}")
        steps.run(f"retrain ({label})", ["train.py", *common, "--exclusions-file", str(exclusions), "--run-name", run.run_name])
        runs[label] = run.run_dir

    retrain(f"tracin_{cfg.criterion}", lists[cfg.criterion])

    # Only from here on is the truth file read: to build the oracle and to score.
    faults = read_json(truth_file, "truth file")["faults"]
    chosen = load_exclusions(lists[cfg.criterion]).ids
    if cfg.controls:
        rng = np.random.default_rng(cfg.seed + 1000)
        random_ids = sorted(rng.choice(train_ids, size=min(len(chosen), len(train_ids)), replace=False).tolist())
        oracle_ids = [s for s in train_ids if s in faults]
        _write_list(seed_dir / "controls" / "random.txt", random_ids, f"control: {len(random_ids)} random training recordings")
        _write_list(seed_dir / "controls" / "oracle.txt", oracle_ids, "control: exactly the planted faults in the training split")
        retrain("random", seed_dir / "controls" / "random.txt")
        retrain("oracle", seed_dir / "controls" / "oracle.txt")
    if cfg.compare_criteria:
        for criterion in CRITERIA:
            if criterion != cfg.criterion:
                generate(criterion, seed_dir / "criteria" / f"{criterion}.txt", tutorial=False)
                retrain(f"tracin_{criterion}", lists[criterion])

    results: dict[str, Any] = {
        "seed": cfg.seed,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "max_exclusions": max_excl,
        "split_counts": {k: len(v) for k, v in run_info["split"].items()},
        "faults": faults,
        "fault_split": {s: next((n for n, ids in run_info["split"].items() if s in ids), "?") for s in faults},
        "lists": {c: load_exclusions(p).ids for c, p in lists.items()},
        "detection": {c: asdict(detection_score(load_exclusions(p).ids, train_ids, faults)) for c, p in lists.items()},
        "holdout": {label: asdict(clean_holdout_score(path, faults)) for label, path in runs.items()},
        "runs": {label: str(path) for label, path in runs.items()},
        "step_seconds": steps.seconds,
    }
    if cfg.controls:
        results["detection"]["random"] = asdict(detection_score(random_ids, train_ids, faults))
        results["detection"]["oracle"] = asdict(detection_score(oracle_ids, train_ids, faults))
    results["seconds"] = round(time.perf_counter() - started, 1)
    write_json_atomic(seed_dir / "results.json", json_safe(results))
    write_seed_report(results, seed_dir)
    return results


def add_demo_args(p: argparse.ArgumentParser) -> None:
    d = DemoConfig()
    p.add_argument("--output-dir", type=Path, default=d.output_dir)
    p.add_argument("--takes", type=int, default=d.takes, help="takes per angle")
    p.add_argument("--mislabel", type=int, default=d.mislabel, help="takes saved under a wrong angle")
    p.add_argument("--clip", type=int, default=d.clip, help="hard-clipped takes")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--checkpoint-interval", type=int, default=d.checkpoint_interval)
    p.add_argument("--criterion", choices=CRITERIA, default=d.criterion, help="the rule behind the main retrain")
    p.add_argument("--expected-fault-rate", type=float, default=d.expected_fault_rate,
                   help="share of training recordings the list may hold (sets --max-exclusions)")
    p.add_argument("--no-controls", action="store_true", help="skip the random and oracle retrains")
    p.add_argument("--no-compare", action="store_true", help="skip the other criteria")


def demo_config(args: argparse.Namespace, seed: int) -> DemoConfig:
    return config_from_args(DemoConfig, args, seed=seed, compare_criteria=not args.no_compare, controls=not args.no_controls)


def main(argv: list[str] | None = None) -> int:
    p = make_parser(__doc__)
    p.add_argument("--seed", type=int, default=DemoConfig.seed)
    add_demo_args(p)
    args = p.parse_args(argv)
    setup_logging()
    try:
        results = run_demo(demo_config(args, args.seed))
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
