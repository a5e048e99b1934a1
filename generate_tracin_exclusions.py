"""Turn TracIn influence scores into an exclusion list, and record why in the sample metadata.

Step 2 of the tutorial, after `compute_tracin_influence.py`:

    python generate_tracin_exclusions.py \\
        --metadata-file data/demo/metadata/plastic_500hz_influence_metadata.json \\
        --output-file data/demo/exclusions/plastic_500hz_tracin_exclusions.txt \\
        --threshold -3.0 --min-occurrences 5 --max-exclusions 30 \\
        --consider-both-samples --verbose --update-metadata

    # a threshold chosen from the scores, a per-recording rule, and a plot:
    python generate_tracin_exclusions.py \\
        --metadata-file data/demo/metadata/plastic_500hz_influence_metadata.json \\
        --threshold auto --criterion recordings --plot

    # the TracIn paper's mislabeled-data detector (threshold and min-occurrences unused):
    python generate_tracin_exclusions.py \\
        --metadata-file data/demo/metadata/plastic_500hz_influence_metadata.json \\
        --criterion self-influence --update-metadata

then `python train.py --exclusions-file data/demo/exclusions/plastic_500hz_tracin_exclusions.txt`.

Criteria (details in `exclusion/rules.py`):
- pairs: a training pair is harmful when its score is below --threshold on at least
  --min-occurrences validation pairs; ranked by that count, then by the more negative mean.
  With --consider-both-samples both recordings of a harmful pair are excluded; without it,
  the one in more harmful pairs (tie: the more negative sum of its harmful pairs'
  below-threshold scores; still tied: the smaller sample id).
- recordings: each training recording's influence is the sum over all its pairs; same rule.
- self-influence: recordings whose self-influence is a high outlier (median + 3 x 1.4826 x MAD).
--max-exclusions counts recordings. `--threshold auto`: median - 3 x 1.4826 x MAD of the
non-zero scores (their 1st percentile when that is not negative).

The list (default: DATA_ROOT/exclusions/, DATA_ROOT as compute_tracin_influence.py recorded
it) gets a `# ` header with the date, the source and every parameter, then one id per line.
A re-run keeps the old list as a dated backup (`<list>.YYYYmmdd-HHMMSS.bak`, the newest 5),
prints the ids added and removed, keeps ids a person commented out (`# plastic_deg036_500hz_04`,
in any case or zero padding, with or without a note after the id) out and carries their
comments over. --update-metadata records `excluded`, `notes` and `tracin_info` in the sample
metadata beside the influence file (see `exclusion/report.py`), keeping a dated backup too.
The list, the metadata and the picture are written together or not at all; a re-run with the
same inputs rewrites neither file. Influence files of two compute runs (an interrupted
compute) are refused.
"""
from __future__ import annotations

import argparse
from pathlib import Path

# Only torch-free modules here, so that --help is quick; the library is imported in main().
from exclusion.config import AUTO, PLOT_BESIDE, ExclusionConfig
from utils.cli import add_execution_args, config_from_args, make_parser, run_cli, setup_logging
from utils.constants import CRITERIA
from utils.threads import apply_threads


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = ExclusionConfig(metadata_file=Path())
    p = make_parser(__doc__, prog="generate_tracin_exclusions.py")
    io = p.add_argument_group("files")
    io.add_argument("--metadata-file", type=Path, required=True,
                    help="influence file, e.g. .../metadata/plastic_500hz_influence_metadata.json")
    io.add_argument("--output-file", type=Path, default=None,
                    help="exclusion list to write (default: DATA_ROOT/exclusions/<material>_<freq>_tracin_exclusions.txt)")
    io.add_argument("--update-metadata", action="store_true",
                    help="record excluded / notes / tracin_info in the sample metadata beside the influence file")
    io.add_argument("--plot", nargs="?", const=PLOT_BESIDE, default=None, metavar="PNG",
                    help="also draw the listed recordings' influence; PNG defaults to the list's name with .png "
                         "(default: no picture)")
    rule = p.add_argument_group("rule")
    rule.add_argument("--criterion", choices=CRITERIA, default=d.criterion, help="how candidates are ranked")
    rule.add_argument("--threshold", default=d.threshold,
                      help=f"harmful means influence below this (negative) value, or '{AUTO}'")
    rule.add_argument("--min-occurrences", type=int, default=d.min_occurrences,
                      help="validation pairs a candidate must be below the threshold on")
    rule.add_argument("--max-exclusions", type=int, default=d.max_exclusions, help="most recordings in the written list")
    rule.add_argument("--consider-both-samples", action="store_true",
                      help="criterion pairs: exclude both recordings of each harmful pair")
    p.add_argument("--verbose", action="store_true", help="show the ranking and every decision")
    add_execution_args(p, d.lock_timeout)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    apply_threads(args.threads)
    cfg = config_from_args(ExclusionConfig, args)
    from exclusion.generate import generate_exclusions

    print("\n".join(generate_exclusions(cfg).lines()))
    return 0


if __name__ == "__main__":
    run_cli(main, "generate_tracin_exclusions.py")
