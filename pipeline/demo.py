"""The whole tutorial on built-in demo recordings with planted faults, and an honest report.

    python -m pipeline.demo                       # seed 0, writes demo_output/seed_0/report.md
    python -m pipeline.demo --seed 3 --takes 24 --generator room
    python -m pipeline.demo --seed 1 --takes 24 --mislabel-rate 0.2 --frequency 3000hz

Steps (each one the real command-line script, printed as it runs):
  1. generate recordings (6 angles x 12 takes at 500 Hz; planted: 3 far and 2 near
     mislabels, a dropout, a take of another frequency, a noise burst, a DC offset, a
     clipped take) and a truth file outside the data root;
  2. train.py: the baseline, with every training seed (--training-seeds);
  3. compute_tracin_influence.py (on the first baseline);
  4. generate_tracin_exclusions.py with the tutorial's own flags, with no flags (the default
     rule), and with each --criterion (their lists are scored, not retrained);
  5. train.py, with every training seed, for each action on the tutorial's list and its
     controls: `exclude` (--exclusions-file), `act` (--exclusions-file and --relabel-file:
     the sure label errors relabelled, the rest excluded), `random` (as many random training
     recordings excluded), `oracle` (exactly the planted training faults excluded) and
     `oracle-relabel` (the planted mislabels relabelled to their true angles, the other
     planted faults excluded);
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
from datasets.faults import is_mislabel
from datasets.relabels import load_relabels, relabel_path_for
from datasets.sample_id import angle_of
from exclusion.config import TUTORIAL_FLAGS
from exclusion.criteria import CRITERIA, DEFAULT_CRITERION
from influence.config import DEFAULT_MEASUREMENT, MEASUREMENTS
from pipeline.evaluate import clean_holdout_score, detection_score
from pipeline.report import write_seed_report
from pipeline.steps import StepFailed, StepRunner
from training.config import TrainConfig
from training.records import TrainingRun
from utils.atomic_io import json_safe, read_json, write_json_atomic, write_text_atomic
from utils.cli import add_execution_args, make_parser, run_cli, setup_logging
from utils.constants import (
    CHECKPOINT_PREFIX,
    CHECKPOINTS_DIR,
    DEFAULT_ANGLES,
    DEFAULT_FREQUENCY,
    DEFAULT_MATERIAL,
    FREQUENCIES,
    EXCLUSIONS_DIR,
    METADATA_DIR,
    exclusions_file_name,
    influence_file_name,
)
from utils.numerics import environment
from utils.threads import apply_threads

DEFAULT_FAULTS = ("mislabel-far=3", "mislabel-near=2", "dropout", "wrong-frequency", "noise-burst", "dc-offset", "clip")
TUTORIAL, DEFAULT, RANDOM, ORACLE = "tutorial", "default", "random", "oracle"
EXCLUDE, ACT, ORACLE_RELABEL = "exclude", "act", "oracle-relabel"
ACTIONS = (EXCLUDE, ACT, RANDOM, ORACLE, ORACLE_RELABEL)
"""What is retrained, each with every training seed (the module docstring); the lists of the single criteria are only scored."""
OTHER_FAULTS = ("dropout", "wrong-frequency", "noise-burst", "dc-offset", "clip")
NATIVE, PORTABLE = "native", "portable"
NUMERICS = (NATIVE, PORTABLE)
FAR_SHARE = 0.6
"""Of the mislabels a --mislabel-rate plants, this share is far (two or more angle steps), the rest near."""


def faults_at_rate(rate: float, takes: int, angles: int) -> list[str]:
    """`--faults` for a share `rate` of mislabeled takes (far and near mixed) plus one take of each other fault kind."""
    n = int(round(rate * takes * angles))
    far = int(round(FAR_SHARE * n))
    return [f"mislabel-far={far}", f"mislabel-near={n - far}", *OTHER_FAULTS]
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
    retrain: bool = True
    mislabel_rate: float | None = None
    extra_train_args: list[str] = field(default_factory=list)
    numerics: str = NATIVE
    """`portable`: every step with the same CPU kernels on any machine (`utils.numerics`); `native`: the machine's."""

    def __post_init__(self) -> None:
        if self.mislabel_rate is not None:
            if not 0 <= self.mislabel_rate < 0.5:
                raise ValueError(f"--mislabel-rate must be from 0 to below 0.5, got {self.mislabel_rate}")
            self.faults = faults_at_rate(self.mislabel_rate, self.takes, len(self.angles or DEFAULT_ANGLES))
        if self.training_seeds < 1:
            raise ValueError("--training-seeds must be at least 1")
        if self.numerics not in NUMERICS:
            raise ValueError(f"unknown --numerics {self.numerics!r}: choose one of {', '.join(NUMERICS)}")
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


def suggestions_of(list_file: Path) -> dict[str, float]:
    """The relabel suggestions of a list: its relabel file when generate wrote one (what --relabel-file
    would apply), else the suggested angles in its notes (only those that differ from the stored angle)."""
    relabel_file = relabel_path_for(list_file)
    if relabel_file.is_file():
        return {sid: float(a) for sid, a in load_relabels(relabel_file).items()}
    return {sid: a for sid, a in suggested_angles(list_file).items() if a != angle_of(sid)}


class Demo:
    """One seed's run: the steps of the module docstring, in order."""

    def __init__(self, cfg: DemoConfig):
        self.cfg = cfg
        self.dir = cfg.seed_dir.resolve()
        self.data = self.dir / "data"
        lists = 2 + (len(CRITERIA) - 1 if cfg.compare_criteria else 0)
        actions = (len(ACTIONS) if cfg.controls else 2) if cfg.retrain else 0
        self.steps = StepRunner(self.dir / "logs", 2 + lists + cfg.training_seeds * (1 + actions),
                                env=environment(cfg.numerics == PORTABLE))
        self.lists: dict[str, Path] = {}
        self.actions: dict[str, tuple[Path, Path | None]] = {}
        """action -> (exclusions file, relabel file or None)."""
        self.runs: dict[str, list[Path]] = {}
        self._trained: dict[tuple, tuple[str, list[Path]]] = {}
        """(takes excluded, takes relabelled) -> (the action first trained on them, its runs)."""

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
        # The first is the run train.py names by default (the tutorial's --checkpoint-dir); the others are named.
        default = TrainConfig(self.cfg.frequency, self.cfg.material, data_root=self.data).default_run_name()
        for k, seed in enumerate(self.cfg.train_seeds()):
            name = default if k == 0 else f"baseline_seed{seed}"
            extra = [] if k == 0 else ["--run-name", name]
            self.steps.run(f"train baseline, seed {seed}", [*self.train_args(seed), *extra])
            runs.append(self.data / CHECKPOINTS_DIR / name)
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

    def plan_actions(self, train_ids: list[str], faults: dict[str, Any]) -> None:
        """The retrains: the tutorial's list excluded, and acted on with its relabel file; with controls, a random
        list as long as it, and the two oracles (only now is the truth file read)."""
        tutorial = self.lists[TUTORIAL]
        self.actions[EXCLUDE] = (tutorial, None)
        self.actions[ACT] = (tutorial, relabel_path_for(tutorial))
        if not self.cfg.controls:
            return
        chosen = load_exclusions(tutorial).ids
        rng = np.random.default_rng(self.cfg.seed + 1000)
        random_ids = sorted(rng.choice(train_ids, size=min(len(chosen), len(train_ids)), replace=False).tolist())
        planted = [s for s in train_ids if s in faults]
        mislabeled = [s for s in planted if is_mislabel(faults[s]["kind"])]
        folder = self.dir / "controls"
        for label, ids, why in ((RANDOM, random_ids, f"control: {len(random_ids)} random training recordings"),
                                (ORACLE, planted, "control: exactly the planted faults in the training split"),
                                (ORACLE_RELABEL, [s for s in planted if s not in mislabeled],
                                 "control: the planted training faults that are not mislabels")):
            _write_list(folder / f"{label}.txt", ids, why)
        oracle_relabel = folder / "oracle-relabel_relabel.txt"
        write_text_atomic(oracle_relabel, "# control: the planted training mislabels at their true angles\n"
                          + "".join(f"{s} {faults[s]['true_angle']}\n" for s in mislabeled))
        self.lists[RANDOM], self.lists[ORACLE] = folder / f"{RANDOM}.txt", folder / f"{ORACLE}.txt"
        self.actions[RANDOM] = (folder / f"{RANDOM}.txt", None)
        self.actions[ORACLE] = (folder / f"{ORACLE}.txt", None)
        self.actions[ORACLE_RELABEL] = (folder / f"{ORACLE_RELABEL}.txt", oracle_relabel)

    def scored_lists(self, train_ids: list[str], faults: dict[str, Any]) -> dict[str, Any]:
        """results.json's `lists` (label -> ids) and `detection` (label -> `detection_score`) of every list made."""
        ids = {label: load_exclusions(path).ids for label, path in self.lists.items()}
        return {"lists": ids, "detection": {label: asdict(detection_score(ids[label], train_ids, faults, suggestions_of(path)))
                                            for label, path in self.lists.items()}}

    def retrain(self, action: str) -> None:
        """Train `action` with every training seed; one that changes the same takes as one already trained reuses it."""
        exclusions, relabels = self.actions[action]
        moved = tuple(sorted(load_relabels(relabels).items())) if relabels is not None else ()
        key = (tuple(sorted(set(load_exclusions(exclusions).ids) - {s for s, _ in moved})), moved)
        if key in self._trained:
            first, self.runs[action] = self._trained[key]
            for seed in self.cfg.train_seeds():
                self.steps.skip(f"retrain: {action}, seed {seed}", f"it changes the same takes as {first}: its run reused")
            return
        runs = []
        for seed in self.cfg.train_seeds():
            name = f"retrain_{action}_seed{seed}"
            extra = ["--exclusions-file", str(exclusions)] + ([] if relabels is None else ["--relabel-file", str(relabels)])
            self.steps.run(f"retrain: {action}, seed {seed}", [*self.train_args(seed), *extra, "--run-name", name])
            runs.append(self.data / CHECKPOINTS_DIR / name)
        self.runs[action] = runs
        self._trained[key] = (action, runs)


def config_record(cfg: DemoConfig) -> dict[str, Any]:
    """The settings a seed's results.json records (JSON-ready); `numerics` only when portable (results of
    earlier versions, all native, have none)."""
    record = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    if cfg.numerics == NATIVE:
        del record["numerics"]
    return json_safe(record)


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    """Run every step for one seed; return the results (also written to results.json)."""
    started = time.perf_counter()
    demo = Demo(cfg)
    if demo.dir.exists():
        shutil.rmtree(demo.dir)  # the demo's own output: always rebuilt from the seed
    demo.generate_data()
    baseline = demo.baselines()
    demo.make_lists(demo.compute(baseline))
    run_info = TrainingRun.read(baseline)
    train_ids = sorted(run_info.split["train"])
    # Only from here on is the truth file read: to build the oracle and to score.
    faults = read_json(demo.dir / "truth.json", "truth file")["faults"]
    demo.plan_actions(train_ids, faults)
    if cfg.retrain:
        for action in demo.actions:
            demo.retrain(action)

    holdout = {}
    for label, runs in demo.runs.items():
        scores = [asdict(clean_holdout_score(path, faults)) for path in runs]
        holdout[label] = {"runs": scores, **{k: float(np.mean([s[k] for s in scores])) for k in scores[0]}}
    results: dict[str, Any] = {
        "seed": cfg.seed,
        "config": config_record(cfg),
        "training_seeds": cfg.train_seeds(),
        "split_counts": {k: len(v) for k, v in run_info.split.items()},
        "faults": faults,
        "fault_split": {s: next((n for n, ids in run_info.split.items() if s in ids), "?") for s in faults},
        **demo.scored_lists(train_ids, faults),
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
    p.add_argument("--frequency", default=d.frequency, choices=FREQUENCIES, help="the tone the recordings are made at")
    p.add_argument("--mislabel-rate", type=float, default=None, metavar="R",
                   help="plant round(R x takes x angles) mislabels (60%% far, 40%% near) and one take of each other "
                   "fault kind, instead of --faults")
    p.add_argument("--no-controls", action="store_true", help="skip the random and oracle retrains")
    p.add_argument("--no-retrain", action="store_true", help="score the lists only: no retrain (detection studies)")
    p.add_argument("--no-compare", action="store_true", help="skip the lists of the single criteria")
    p.add_argument("--numerics", choices=NUMERICS, default=d.numerics,
                   help="portable: every step with the same CPU kernels on any machine, so its figures are the docs' "
                   "(make demo; utils/numerics.py); native: the fastest this machine has")
    add_execution_args(p)  # --threads: this process and every step it runs (they inherit it)


def config_from_args(args: argparse.Namespace, seed: int) -> DemoConfig:
    return DemoConfig(
        output_dir=args.output_dir, seed=seed, generator=args.generator, takes=args.takes, angles=args.angles,
        faults=list(args.faults), epochs=args.epochs, checkpoint_interval=args.checkpoint_interval,
        training_seeds=args.training_seeds, measurement=args.measurement, compare_criteria=not args.no_compare,
        controls=not args.no_controls, retrain=not args.no_retrain, frequency=args.frequency,
        mislabel_rate=args.mislabel_rate, numerics=args.numerics,
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
