"""Turn TracIn influence scores into an exclusion list, and record why in the sample metadata.

Step 3 of the tutorial (the README counts train.py 1, compute_tracin_influence.py 2), after compute:

    python generate_tracin_exclusions.py \\
        --metadata-file data/demo/metadata/plastic_500hz_influence_metadata.json \\
        --output-file data/demo/exclusions/plastic_500hz_tracin_exclusions.txt \\
        --threshold -3.0 --min-occurrences 5 --max-exclusions 30 \\
        --consider-both-samples --verbose --update-metadata

    # one criterion alone, and a picture of the listed recordings:
    python generate_tracin_exclusions.py \\
        --metadata-file data/demo/metadata/plastic_500hz_influence_metadata.json \\
        --criterion misfit --plot

then `python train.py --exclusions-file data/demo/exclusions/plastic_500hz_tracin_exclusions.txt`,
or `python train.py --relabel-file data/demo/exclusions/plastic_500hz_tracin_exclusions_relabel.txt`
to train with the suggested angles instead.

The scores are robust z-scores (compute_tracin_influence.py standardises them), so
--threshold -3.0 means "three robust standard deviations more harmful than comparable
training items" on every run (`auto` is kept for old command lines and means -3.0).
Criteria (details in `exclusion/rules.py` and docs/design.md):
- profile (default): the take's harmonic profile says its stored angle is wrong, or that it
  fits no angle (a label-noise model of the training and validation takes, exclusion/label_noise.py);
  on influence files without profiles (an older compute) it falls back to combined, saying so.
- combined: pairs or misfit, recordings listed by both first.
- pairs: a training pair is harmful when its score is below --threshold on at least
  --min-occurrences validation pairs; a recording is listed when it is in unusually many
  harmful pairs (a robust outlier among the training recordings). With
  --consider-both-samples both recordings of a harmful pair are candidates and the pairs are
  explained away (a bad take's clean partners are not listed for its pairs); without it each
  harmful pair counts for its more harmful recording.
- recordings: each training recording's own influence (the sum of its pairs) by the same rule.
- self-influence: recordings whose self-influence is a high outlier (median + 3 x 1.4826 x MAD).
- misfit: the model's scores over the checkpoints place the recording among another angle's.
--max-exclusions counts recordings; no angle loses its last training recording. A listed take
gets a suggested angle where its harmonic profile is sure of one (without profiles: where its
score lands at the first checkpoint that ranks the angles): in the list's `# tracin:` note,
`--verbose`, the metadata, the picture, and a relabel file beside the list
(`<list>_relabel.txt`; nothing is relabelled unless you pass it).

The list (default: DATA_ROOT/exclusions/, DATA_ROOT as compute_tracin_influence.py recorded
it) gets a `# ` header with the date, the source, the run fingerprint, every parameter and
the generate stamp, then one bare id per line (the tutorial's format), the tool's note on
the `# tracin:` line above it. A re-run keeps the old list as a dated backup
(`<list>.YYYYmmdd-HHMMSS.bak`, the newest 5), prints the ids added and removed, keeps ids a
person commented out (`# plastic_deg036_500hz_04`, in any case or zero padding, with or
without a note after the id) out, keeps ids a person added listed, carries their comments
over, and keeps relabel lines a person changed, added or commented out; every kept edit is
printed. --update-metadata records `excluded`, `notes` and `tracin_info` in the sample
metadata beside the influence file (see `exclusion/report.py`), keeping a dated backup too.
A review sheet (`<list>_review.md`, `.csv`, `.png`) shows every listed recording's scores
and spectrogram. The list, the relabel file, the metadata, the picture and the review sheet
are written together or not at all (the free space is checked first; a run killed while
renaming them is finished by the next one); a re-run with the same inputs rewrites nothing.
Influence files of two compute runs (an interrupted compute) are refused.
"""
from __future__ import annotations

import argparse
from pathlib import Path

# Only torch-free modules here, so that --help is quick; the library is imported in main().
from exclusion.config import AUTO, PLOT_BESIDE, ExclusionConfig
from exclusion.criteria import CRITERIA
from utils.cli import add_execution_args, config_from_args, make_parser, run_cli, setup_logging
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
    rule.add_argument("--criterion", choices=CRITERIA, default=d.criterion, help="which rule lists recordings (default: %(default)s)")
    rule.add_argument("--threshold", default=d.threshold,
                      help=f"harmful means a standardised score below this (robust SD; default -3.0; '{AUTO}' means the same)")
    rule.add_argument("--min-occurrences", type=int, default=d.min_occurrences,
                      help="validation pairs a candidate must be below the threshold on")
    rule.add_argument("--max-exclusions", type=int, default=d.max_exclusions, help="most recordings in the written list")
    rule.add_argument("--consider-both-samples", action="store_true",
                      help="criterion pairs (and combined): both recordings of each harmful pair are candidates, explained away")
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
