"""Does removing recordings cost accuracy through fewer optimisation steps? (issue 18, "a fair retrain")

    python benchmarks/bench_fair_retrain.py --generator room --mislabel-rate 0.2 --seeds 0 1 2 3 4 5

An epoch is one pass over the training recordings, 16 at a time, so a retrain without k of R
recordings takes R / (R - k) times fewer steps in as many epochs. For each seed this trains,
with the real train.py and every training seed: the baseline; the oracle's exclusion (exactly
the planted training faults) in the same epochs; the same exclusion in as many steps as the
baseline (epochs x R / (R - k), rounded); and the oracle's relabelling (the planted mislabels
at their true angles, the other faults excluded) for scale. It prints each one's clean-holdout
gain over the baseline (mean, SD and 95% interval over the seeds): if the equal-steps retrain
gains measurably more than the equal-epochs one, steps explain part of an exclusion's cost.
Nothing here reads the holdout to choose anything.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datasets.faults import is_mislabel  # noqa: E402
from pipeline.demo import DemoConfig  # noqa: E402
from pipeline.evaluate import clean_holdout_score  # noqa: E402
from pipeline.steps import StepRunner  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.verdict import mean_interval  # noqa: E402
from training.records import TrainingRun  # noqa: E402
from utils.constants import CHECKPOINTS_DIR  # noqa: E402

VARIANTS = ("oracle, same epochs", "oracle, same steps", "oracle relabel, same epochs")


def seed_gains(cfg: DemoConfig, steps: StepRunner, work: Path) -> dict[str, float]:
    """One seed: the clean-holdout gain of each variant over the baseline, each averaged over the training seeds."""
    data, truth_file = work / "data", work / "truth.json"
    steps.run("recordings", ["-m", "datasets.demo_data", "--output-root", str(data), "--takes", str(cfg.takes), "--seed",
                             str(cfg.seed), "--generator", cfg.generator, "--faults", *cfg.faults, "--truth-file",
                             str(truth_file)])
    faults = json.loads(truth_file.read_text())["faults"]
    base = ["train.py", "--frequency", cfg.frequency, "--data-root", str(data), "--split-seed", str(cfg.seed),
            "--no-progress", "--threads", "1"]
    scores: dict[str, list[float]] = {k: [] for k in ("baseline", *VARIANTS)}
    for t in cfg.train_seeds():
        name = f"baseline_{t}"
        steps.run(f"baseline {t}", [*base, "--seed", str(t), "--run-name", name])
        run_dir = data / CHECKPOINTS_DIR / name
        split = TrainingRun.read(run_dir).split
        planted = [s for s in split["train"] if s in faults]
        mislabeled = [s for s in planted if is_mislabel(faults[s]["kind"])]
        (work / "oracle.txt").write_text("".join(f"{s}\n" for s in planted))
        (work / "rest.txt").write_text("".join(f"{s}\n" for s in planted if s not in mislabeled))
        (work / "relabel.txt").write_text("".join(f"{s} {faults[s]['true_angle']}\n" for s in mislabeled))
        epochs = TrainConfig.epochs
        same_steps = int(round(epochs * len(split["train"]) / max(len(split["train"]) - len(planted), 1)))
        runs = {"oracle, same epochs": ["--exclusions-file", str(work / "oracle.txt")],
                "oracle, same steps": ["--exclusions-file", str(work / "oracle.txt"), "--epochs", str(same_steps)],
                "oracle relabel, same epochs": ["--exclusions-file", str(work / "rest.txt"), "--relabel-file",
                                                str(work / "relabel.txt")]}
        scores["baseline"].append(clean_holdout_score(run_dir, faults).clean_pairwise_accuracy)
        for k, (variant, extra) in enumerate(runs.items()):
            steps.run(f"{variant} {t}", [*base, "--seed", str(t), "--run-name", f"v{k}_{t}", *extra])
            scores[variant].append(clean_holdout_score(data / CHECKPOINTS_DIR / f"v{k}_{t}", faults).clean_pairwise_accuracy)
    return {v: float(np.mean(scores[v]) - np.mean(scores["baseline"])) for v in VARIANTS}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generator", choices=("demo", "room"), default="room")
    p.add_argument("--mislabel-rate", type=float, default=0.2)
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(6)))
    p.add_argument("--takes", type=int, default=24)
    p.add_argument("--training-seeds", type=int, default=3)
    p.add_argument("--output", type=Path, default=None, help="also write the figures as JSON here")
    args = p.parse_args()
    gains: dict[str, list[float]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="fair_retrain_") as tmp:
        for seed in args.seeds:
            cfg = DemoConfig(seed=seed, generator=args.generator, takes=args.takes, training_seeds=args.training_seeds,
                             mislabel_rate=args.mislabel_rate)
            work = Path(tmp) / f"seed_{seed}"
            steps = StepRunner(work / "logs", 1 + 4 * args.training_seeds, live=False)
            for variant, g in seed_gains(cfg, steps, work).items():
                gains[variant].append(g)
            print(f"seed {seed}: " + ", ".join(f"{v} {gains[v][-1]:+.3f}" for v in VARIANTS), flush=True)
    print(f"\n{args.generator}, {args.mislabel_rate:.0%} mislabeled, {len(args.seeds)} seeds x {args.training_seeds} "
          "training seeds: clean-holdout gain over the baseline")
    for v in VARIANTS:
        m, sd, half = mean_interval(gains[v])
        print(f"  {v:<30} {m:+.4f}  SD {sd:.4f}  95% interval +-{half:.4f}")
    steps_effect = [b - a for a, b in zip(gains[VARIANTS[0]], gains[VARIANTS[1]])]
    m, sd, half = mean_interval(steps_effect)
    print(f"  same steps minus same epochs: {m:+.4f} +-{half:.4f} (paired)")
    if args.output:
        args.output.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "gains": gains}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
