"""Train the angle ranker and save checkpoints that carry everything TracIn needs.

    python train.py --frequency 500hz --material plastic
    python train.py --frequency 500hz --material plastic \\
        --exclusions-file data/demo/exclusions/plastic_500hz_tracin_exclusions.txt --loss-type ghm

Writes `{data root}/checkpoints/{run}/`: model_checkpoint_epoch_{E}.pt, run.json (config,
seed, split), history.json, summary.json, scores.json and training_curves.png.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

# Only torch-free modules here, so that --help is quick; the trainer is imported in main().
from datasets.config import resolve_data_root
from losses.config import LOSS_TYPES
from training.config import LR_SCHEDULES, TrainConfig
from utils.cli import config_from_args, make_parser, run_cli, setup_logging
from utils.constants import DEFAULT_FREQUENCY, DEVICE_CHOICES, FREQUENCY_CHOICES


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = TrainConfig(frequency=DEFAULT_FREQUENCY)
    p = make_parser(__doc__)
    data = p.add_argument_group("data")
    data.add_argument("--frequency", required=True, choices=FREQUENCY_CHOICES)
    data.add_argument("--material", default=d.material)
    data.add_argument("--data-root", type=Path, default=None, help="default: $SINETONE_DATA_ROOT, else data/demo")
    data.add_argument("--exclusions-file", type=Path, default=None, help="sample ids to leave out, one per line")
    data.add_argument("--allow-unknown-exclusions", action="store_true",
                      help="train even if the exclusions file names ids that match no recording")
    data.add_argument("--metadata-file", type=Path, default=None,
                      help="default: {root}/metadata/{material}_{frequency}_metadata.json")
    data.add_argument("--split-seed", type=int, default=d.split_seed, help="seed of the train/validation/holdout split")
    loss = p.add_argument_group("loss")
    loss.add_argument("--loss-type", choices=LOSS_TYPES, default=d.loss_type)
    loss.add_argument("--margin", type=float, default=d.margin, help="margin of the standard loss")
    loss.add_argument("--ghm-bins", type=int, default=d.ghm_bins)
    loss.add_argument("--ghm-alpha", type=float, default=d.ghm_alpha)
    loss.add_argument("--ghm-momentum", type=float, default=d.ghm_momentum)
    opt = p.add_argument_group("optimisation")
    opt.add_argument("--epochs", type=int, default=d.epochs)
    opt.add_argument("--checkpoint-interval", type=int, default=d.checkpoint_interval)
    opt.add_argument("--learning-rate", type=float, default=d.learning_rate)
    opt.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=d.lr_schedule)
    opt.add_argument("--weight-decay", type=float, default=d.weight_decay)
    opt.add_argument("--batch-size", type=int, default=d.batch_size,
                     help="recordings per step; each step trains on every pair among them whose angles differ")
    opt.add_argument("--seed", type=int, default=d.seed)
    opt.add_argument("--device", choices=DEVICE_CHOICES, default=d.device)
    out = p.add_argument_group("output")
    out.add_argument("--run-name", default=None, help="default: {material}_{frequency}_{loss}[_excl_{list}]")
    out.add_argument("--overwrite", action="store_true", help="replace an existing run (the old one is kept, renamed)")
    out.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()
    cfg = config_from_args(TrainConfig, args, data_root=resolve_data_root(args.data_root), progress=not args.no_progress)
    from training.trainer import train

    result = train(cfg)
    s = result.summary
    print(f"run folder: {result.run_dir}")
    print(f"excluded recordings: {s['excluded_recordings']}, training pairs removed: {s['train_pairs_removed']}")
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in s.items()}, indent=2))
    return 0


if __name__ == "__main__":
    run_cli(main, "train.py")
