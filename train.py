"""Train the angle ranker and save checkpoints that carry everything TracIn needs.

    python train.py --frequency 500hz --material plastic
    python train.py --frequency 500hz --material plastic \\
        --exclusions-file data/demo/exclusions/plastic_500hz_tracin_exclusions.txt --loss-type ghm
    python train.py --frequencies 500hz 1000hz 3000hz --material plastic

Writes `{data root}/checkpoints/{run}/`: model_checkpoint_epoch_{E}.pt, run.json (config,
seed, split), history.json, summary.json, scores.json and training_curves.png.
`--frequency all` trains ONE model on the three frequencies pooled; `--frequencies` trains
one model per frequency, one after another, one run folder each (every other flag applies
to each; write {frequency} in --exclusions-file, --metadata-file and --run-name).
With --exclusions-file the data root is the one the list was made from, and a baseline run
(the same run without the list) is compared with the retrain on the same holdout.
A killed run continues bit for bit with the same command plus --resume; an existing run
folder is refused before any work, unless --overwrite or --resume.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

# Only torch-free modules here, so that --help is quick; the trainer is imported in main().
from losses.config import LOSS_TYPES
from models.presets import MODEL_PRESETS
from training.config import LR_SCHEDULES, TrainConfig, for_frequencies
from training.run_folder import check_run_folder
from utils.cli import add_execution_args, config_from_args, make_parser, run_cli, setup_logging
from utils.constants import DEFAULT_FREQUENCY, DEVICE_CHOICES, FREQUENCIES, FREQUENCY_CHOICES
from utils.threads import apply_threads

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = TrainConfig(frequency=DEFAULT_FREQUENCY)
    p = make_parser(__doc__)
    data = p.add_argument_group("data")
    which = data.add_mutually_exclusive_group(required=True)
    which.add_argument("--frequency", choices=FREQUENCY_CHOICES,
                       help="one model on one frequency; 'all' pools the three frequencies into ONE model")
    which.add_argument("--frequencies", nargs="+", choices=FREQUENCIES, metavar="FREQ",
                       help=f"one model per frequency, one after another ({' '.join(FREQUENCIES)})")
    data.add_argument("--material", default=d.material, help="the material folder and file-name prefix")
    data.add_argument("--data-root", type=Path, default=None,
                      help="default: the data root --exclusions-file was made from, else $SINETONE_DATA_ROOT, else data/demo")
    data.add_argument("--exclusions-file", type=Path, default=None, help="sample ids to leave out, one per line (default: none)")
    data.add_argument("--relabel-file", type=Path, default=None,
                      help="'<sample id> <angle>' per line: train those recordings at that angle (generate_tracin_exclusions.py "
                      "writes suggestions as <list>_relabel.txt; default: none)")
    data.add_argument("--allow-unknown-exclusions", action="store_true",
                      help="train even if the exclusions file names ids that match no recording")
    data.add_argument("--metadata-file", type=Path, default=None,
                      help="default: {data root}/metadata/{material}_{frequency}_metadata.json")
    data.add_argument("--split-seed", type=int, default=d.split_seed, help="seed of the train/validation/holdout split")
    loss = p.add_argument_group("loss")
    loss.add_argument("--loss-type", choices=LOSS_TYPES, default=d.loss_type,
                      help="standard: margin ranking; ghm: GHM-weighted logistic (losses/ghm.py)")
    loss.add_argument("--margin", type=float, default=d.margin, help="margin of the standard loss")
    loss.add_argument("--ghm-bins", type=int, default=d.ghm_bins, help="ghm: bins of the gradient-norm histogram")
    loss.add_argument("--ghm-alpha", type=float, default=d.ghm_alpha, help="ghm: weight = density ** -alpha")
    loss.add_argument("--ghm-momentum", type=float, default=d.ghm_momentum, help="ghm: smoothing of the densities across steps")
    opt = p.add_argument_group("optimisation")
    opt.add_argument("--model", choices=sorted(MODEL_PRESETS), default=d.model,
                     help="the ranker's size: small (about 20 thousand parameters) or wide (about 1.2 million)")
    opt.add_argument("--epochs", type=int, default=d.epochs, help="passes over the training recordings")
    opt.add_argument("--checkpoint-interval", type=int, default=d.checkpoint_interval,
                     help="save a checkpoint every this many epochs (and after the last)")
    opt.add_argument("--learning-rate", type=float, default=d.learning_rate, help="Adam's learning rate at epoch 1")
    opt.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=d.lr_schedule,
                     help="cosine: down to 10%% of --learning-rate at the last epoch")
    opt.add_argument("--weight-decay", type=float, default=d.weight_decay, help="Adam's weight decay")
    opt.add_argument("--batch-size", type=int, default=d.batch_size,
                     help="recordings per step; each step trains on every pair among them whose angles differ")
    seed = opt.add_mutually_exclusive_group()
    seed.add_argument("--seed", type=int, default=d.seed, help="seed of the weights and the batch order")
    seed.add_argument("--seeds", type=int, nargs="+", default=None, metavar="S",
                      help="one run per training seed (named ..._seed<S>); with --exclusions-file or --relabel-file, also "
                      "each seed's baseline where it is missing, then the retrain's verdict over the seeds: better, no "
                      "measurable change or worse, with a 95%% interval (training/verdict.py); default: one run, --seed")
    opt.add_argument("--device", choices=DEVICE_CHOICES, default=d.device, help="auto: cuda, else mps, else cpu")
    out = p.add_argument_group("output")
    out.add_argument("--run-name", default=None, help="default: {material}_{frequency}_{loss}[_excl_{list stem}][_relabel_{file stem}]")
    out.add_argument("--overwrite", action="store_true", help="replace an existing run (the old one is kept, renamed)")
    out.add_argument("--resume", action="store_true",
                     help="continue a killed run from its last checkpoint (the same flags; the result is bit-identical)")
    out.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_execution_args(p, d.lock_timeout)
    return p.parse_args(argv)


def run_configs(args: argparse.Namespace) -> list[TrainConfig]:
    """One TrainConfig per frequency (`training.config.for_frequencies`); data roots and run folders checked first,
    so that no frequency trains before every one's run folder is known to be usable."""
    template = config_from_args(TrainConfig, args, frequency=(args.frequencies or [args.frequency])[0], data_root=Path(),
                                progress=not args.no_progress)
    configs = for_frequencies(template, args.frequencies or [args.frequency], args.data_root)
    if args.seeds is None:
        for cfg in configs:
            check_run_folder(cfg)  # before any spectrogram is computed
    return configs


def train_one(cfg: TrainConfig, baseline: bool = False, compare: bool = True) -> Path:
    """Train `cfg` and print what it did (with `compare`, against its baseline); returns its run folder."""
    from training.compare import compare_with_baseline
    from training.trainer import train

    result = train(cfg)
    s = result.summary
    print(f"run folder: {result.run_dir}" + (" (baseline)" if baseline else ""))
    print(f"excluded recordings: {s['excluded_recordings']}, training pairs removed: {s['train_pairs_removed']}")
    print(relabel_line(s["relabelled_recordings"]))
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in s.items()
                      if k != "relabelled_recordings"}, indent=2))
    if compare and (cfg.exclusions_file is not None or cfg.relabel_file is not None):
        print("\n".join(compare_with_baseline(cfg, result.run_dir).lines()))
        print("one training seed: no verdict (train.py --seeds 1 2 3 ... gives one, with a 95% interval)")
    return result.run_dir


def train_seeds(cfg: TrainConfig, seeds: list[int]) -> None:
    """`--seeds`: every seed's run and missing baseline, then the verdict (training/seeds.py, training/verdict.py)."""
    from training.seeds import plan_seeds, train_plan, verdict_path
    from training.verdict import write_verdict

    plan = plan_seeds(cfg, seeds)
    verdict = train_plan(plan, lambda run, baseline: train_one(run, baseline=baseline, compare=False), print)
    if verdict is not None:
        print("\n".join(verdict.lines()))
        json_path, png_path = write_verdict(verdict, verdict_path(plan))
        print(f"verdict: {json_path} and {png_path.name}")


def relabel_line(relabelled: dict[str, list[int]]) -> str:
    """`relabelled recordings: 2 (a: 36 -> 0, b: 108 -> 180)`: what --relabel-file changed."""
    moves = ", ".join(f"{sid}: {old} -> {new}" for sid, (old, new) in relabelled.items())
    return f"relabelled recordings: {len(relabelled)}" + (f" ({moves})" if moves else "")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()
    apply_threads(args.threads)
    configs = run_configs(args)  # every data root, flag and run folder is checked before any training
    for cfg in configs:
        if args.seeds is None:
            train_one(cfg)
        else:
            train_seeds(cfg, args.seeds)
    return 0


if __name__ == "__main__":
    run_cli(main, "train.py")
