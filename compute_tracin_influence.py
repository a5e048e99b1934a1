"""Compute exact TracIn scores of every training pair on every validation pair.

    python compute_tracin_influence.py --frequency 500hz --material plastic \\
        --checkpoint-dir data/demo/checkpoints/plastic_500hz_standard \\
        --checkpoint-prefix model_checkpoint_epoch --metadata-dir data/demo/metadata --compute-influence
    torchrun --nproc-per-node 2 compute_tracin_influence.py ...   # the same, gradients shared by 2 processes

The training side is the exact gradient of the loss each checkpoint was trained with; the
validation side is a --measurement of each validation pair (default: its margin). Scores
are written on a scale that does not depend on the run: robust z among training pairs of
the same two angles, per validation pair (so --threshold -3.0 means the same on every
model); the raw TracIn stays in the dense matrix. Reads the run's checkpoints (ordered by
epoch, loaded with weights_only=True), its stored configuration (data root, spectrogram
settings), split and loss settings, and writes into the metadata folder:
  {material}_{frequency}_influence_metadata.json  train pair id -> {"tracin_influence_<val pair id>": z}
                                                  (every score up to 1e6 cells or with --dense, else the harmful pairs)
  {material}_{frequency}_influence_matrix.npz     summaries per pair and recording (the fast path;
                                                  dense raw and z matrices when small or --dense)
  {material}_{frequency}_influence_run.json       configuration, data root, checkpoints, learning rates, summary
  {material}_{frequency}_influence_distribution.png
and each training recording's self-influence into {material}_{frequency}_metadata.json, all
renamed into place together (Ctrl-C waits) and stamped with the run's fingerprint. A run
train.py did not finish is refused (see --allow-incomplete).
"""
from __future__ import annotations

import argparse
from pathlib import Path

# Only torch-free modules here, so that --help is quick; the computation is imported in main().
from influence.config import MEASUREMENTS, InfluenceConfig
from losses.config import LOSS_TYPES
from utils.allocator import keep_freed_memory
from utils.cli import add_execution_args, config_from_args, make_parser, run_cli, setup_logging
from utils.constants import DEFAULT_FREQUENCY, DEFAULT_MATERIAL, DEVICE_CHOICES, FREQUENCY_CHOICES
from utils.threads import apply_threads


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = InfluenceConfig(frequency=DEFAULT_FREQUENCY, material=DEFAULT_MATERIAL, checkpoint_dir=Path())
    p = make_parser(__doc__)
    p.add_argument("--frequency", required=True, choices=FREQUENCY_CHOICES,
                   help="the frequency the checkpoints were trained on (all: the pooled model)")
    p.add_argument("--material", default=d.material, help="the material the checkpoints were trained on")
    p.add_argument("--data-root", type=Path, default=None, help="default: the data root the checkpoints were trained on")
    p.add_argument("--checkpoint-dir", type=Path, required=True, help="the run folder train.py wrote")
    p.add_argument("--checkpoint-prefix", default=d.checkpoint_prefix, help="checkpoint files are <prefix>_<epoch>.pt")
    which = p.add_argument_group("which checkpoints (default: all of a complete run)")
    pick = which.add_mutually_exclusive_group()
    pick.add_argument("--epochs", type=int, nargs="+", metavar="E", default=None,
                      help="use the checkpoints of these epochs, e.g. --epochs 5 10 30 (default: all checkpoints)")
    pick.add_argument("--every", type=int, metavar="K", default=None,
                      help="use every K-th checkpoint, counted back from the last (which is always used; default: all)")
    which.add_argument("--allow-incomplete", action="store_true",
                       help="use the checkpoints of a run that train.py did not finish (refused otherwise)")
    which.add_argument("--assume-learning-rate", type=float, metavar="X", default=None,
                       help="TracIn weight of checkpoints that store no learning rate (default: none, such checkpoints are refused)")
    p.add_argument("--metadata-dir", type=Path, default=None, help="default: {data root}/metadata")
    p.add_argument("--compute-influence", action="store_true", help="train pair x validation pair scores")
    p.add_argument("--compute-self-influence", action="store_true",
                   help="self-influence of pairs and recordings (always computed with --compute-influence)")
    p.add_argument("--measurement", choices=MEASUREMENTS, default=d.measurement,
                   help="what TracIn differentiates on each validation pair: margin (-y s), logistic "
                   "(log(1+exp(-y s))) or loss (the trained loss; zero beyond the margin)")
    size = p.add_argument_group("size (see docs/design.md)")
    size.add_argument("--keep-lowest", type=int, default=d.keep_lowest, metavar="K",
                      help="lowest scores kept per training pair and recording (--min-occurrences can go up to K; "
                      "default: 32, fewer down to 8 above 4 million training pairs)")
    size.add_argument("--dense", action=argparse.BooleanOptionalAction, default=None,
                      help="write the dense (P, Q) matrices and a nested JSON of every score (default: when P x Q "
                      "is at most 1 million)")
    size.add_argument("--max-cells", type=int, default=d.max_cells,
                      help="above P x Q cells (training x validation pairs), the scores count on a seeded sample of "
                      "the validation pairs; the time goes with the cells, about 4e7 a second per thread (default: "
                      "2e9, or 256 validation pairs per training pair when that is more)")
    size.add_argument("--memory-mb", type=float, default=d.memory_mb,
                      help="memory for one block of gradients or scores; gradients that do not fit are spilled to $TMPDIR")
    size.add_argument("--projection-dim", type=int, default=None, metavar="K",
                      help="approximate: a CountSketch of the gradients to K numbers, for models with millions of "
                      "parameters (default: exact)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="recordings per gradient batch")
    p.add_argument("--device", choices=DEVICE_CHOICES, default=d.device, help="auto: cuda, else mps, else cpu")
    p.add_argument("--double-precision", action="store_true", help="float64 (slower; not on MPS)")
    p.add_argument("--no-json", action="store_true", help="write the npz and run file, not the nested JSON")
    over = p.add_argument_group("overrides (normally read from the checkpoints; each prints a warning)")
    over.add_argument("--loss-type", choices=LOSS_TYPES, default=None, help="default: the loss each checkpoint was trained with")
    over.add_argument("--margin", type=float, default=None, help="default: the checkpoints' margin")
    over.add_argument("--ghm-bins", type=int, default=None, help="default: the checkpoints' GHM bins")
    over.add_argument("--ghm-alpha", type=float, default=None, help="default: the checkpoints' GHM alpha")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_execution_args(p, d.lock_timeout)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()
    apply_threads(args.threads)
    keep_freed_memory()  # batches of gradients reuse memory instead of faulting in new pages
    cfg = config_from_args(
        InfluenceConfig, args, compute_self_influence=args.compute_self_influence or args.compute_influence,
        write_json=not args.no_json, progress=not args.no_progress,
    )
    from influence.compute import compute_influence
    from tracin.distributed import process_group

    with process_group(cfg.device) as rank:
        result = compute_influence(cfg)
    if rank:
        return 0  # only the first process reports; every process computed the same scores
    print("\n".join(result.lines(cfg.compute_influence)))
    return 0


if __name__ == "__main__":
    run_cli(main, "compute_tracin_influence.py")
