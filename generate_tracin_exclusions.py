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

- `pairs` (default): a training pair is harmful when its score is below --threshold on at
  least --min-occurrences validation pairs; pairs are ranked by that count, then by their
  more negative mean score. With --consider-both-samples both recordings of a harmful pair
  are excluded; without it, the one in more harmful pairs (tie: the more negative sum of its
  harmful pairs' below-threshold scores; still tied: the smaller sample id).
- `recordings`: each training recording's influence is the sum over all its pairs; it
  qualifies when that sum is below --threshold on at least --min-occurrences validation
  pairs; ranked by that count, then by the more negative mean.
- `self-influence`: recordings whose TracIn self-influence is a high outlier (above median +
  3 x 1.4826 x MAD), largest first.

--max-exclusions counts recordings in the written list. `--threshold auto` uses
median - 3 x 1.4826 x MAD of the non-zero scores (1st percentile when that is not negative).

The list file (a text file people edit): a `# ` header with the date, the source file and
every parameter, then one sample id per line. On a re-run the old file is kept as `.bak`,
ids added and removed are printed, ids a person commented out (`# plastic_deg036_500hz_04`)
stay out, and comment lines a person wrote are carried over. With --update-metadata the
sample metadata beside the influence file (`plastic_500hz_metadata.json`) gets `excluded`,
`notes` and `tracin_info` for every excluded recording (see `exclusion/report.py`);
the old file is kept as `.bak`. A re-run with the same inputs rewrites neither file.
"""
from __future__ import annotations

import argparse
import datetime
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from datasets.exclusions import load_exclusions
from exclusion.list_file import update_exclusion_file
from datasets.metadata import MetadataStore
from utils.cli import run_cli, setup_logging
from utils.constants import (
    CRITERIA,
    CRITERION_PAIRS,
    CRITERION_SELF_INFLUENCE,
    EXCLUSIONS_DIR,
    EXCLUSIONS_SUFFIX,
    INFLUENCE_SUFFIX,
    sample_metadata_path_for,
)
from exclusion.plots import plot_exclusions
from exclusion.report import apply_to_metadata, header_lines
from exclusion.rules import Selection, rank_harmful_pairs, select_exclusions
from influence.stats import suggest_threshold
from influence.io import load_influence

log = logging.getLogger("generate_tracin_exclusions")

AUTO = "auto"
PLOT_BESIDE = "<beside the list>"


@dataclass
class ExclusionConfig:
    """Everything the flags set; written into the list header."""

    metadata_file: Path
    output_file: Path | None = None
    threshold: str = AUTO
    min_occurrences: int = 5
    max_exclusions: int = 30
    consider_both_samples: bool = False
    criterion: str = CRITERION_PAIRS
    update_metadata: bool = False
    plot: Path | None = None
    verbose: bool = False

    def __post_init__(self) -> None:
        self.metadata_file = Path(self.metadata_file)
        if self.output_file is None:
            self.output_file = default_output_file(self.metadata_file)
        self.output_file = Path(self.output_file)
        if self.plot is not None:
            self.plot = self.output_file.with_suffix(".png") if str(self.plot) == PLOT_BESIDE else Path(self.plot)
        if self.criterion not in CRITERIA:
            raise ValueError(f"unknown criterion {self.criterion!r}: choose one of {', '.join(CRITERIA)}")
        if self.min_occurrences < 1:
            raise ValueError(f"--min-occurrences must be at least 1, got {self.min_occurrences}")
        if self.max_exclusions < 1:
            raise ValueError(f"--max-exclusions must be at least 1, got {self.max_exclusions}")
        if self.threshold != AUTO:
            try:
                value = float(self.threshold)
            except ValueError:
                raise ValueError(f"--threshold must be a number or 'auto', got {self.threshold!r}") from None
            if not math.isfinite(value):
                raise ValueError(f"--threshold must be a finite number, got {self.threshold!r}")


def default_output_file(influence_file: Path) -> Path:
    """`DATA_ROOT/metadata/x_influence_metadata.json` -> `DATA_ROOT/exclusions/x_tracin_exclusions.txt`."""
    name = influence_file.name
    if not name.endswith(INFLUENCE_SUFFIX):
        raise ValueError(f"pass --output-file: cannot name a list after {influence_file} (expected *{INFLUENCE_SUFFIX})")
    return influence_file.parent.parent / EXCLUSIONS_DIR / (name[: -len(INFLUENCE_SUFFIX)] + EXCLUSIONS_SUFFIX)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="generate_tracin_exclusions.py",
        description=__doc__.split("\n\n")[0],
        epilog="Criteria: pairs (default): harmful pairs ranked by below-threshold count, then mean; without "
        "--consider-both-samples the recording in more harmful pairs is excluded (tie: more negative sum of its "
        "harmful pairs' below-threshold scores, then the smaller id). recordings: per-recording sums of pair "
        "scores, same threshold rule. self-influence: high outliers of TracIn self-influence (median + "
        "3 x 1.4826 x MAD); --threshold and --min-occurrences are not used.",
    )
    io = p.add_argument_group("files")
    io.add_argument("--metadata-file", type=Path, required=True,
                    help="influence file, e.g. .../metadata/plastic_500hz_influence_metadata.json")
    io.add_argument("--output-file", type=Path, default=None,
                    help="exclusion list to write (default: DATA_ROOT/exclusions/<material>_<freq>_tracin_exclusions.txt)")
    io.add_argument("--update-metadata", action="store_true",
                    help="record excluded / notes / tracin_info in the sample metadata beside the influence file")
    io.add_argument("--plot", nargs="?", const=PLOT_BESIDE, default=None, metavar="PNG",
                    help="write a PNG of the harmful recordings and their influence (default: the list with .png)")
    rule = p.add_argument_group("rule")
    rule.add_argument("--criterion", choices=CRITERIA, default=CRITERION_PAIRS,
                      help="how candidates are ranked (default: pairs)")
    rule.add_argument("--threshold", default=AUTO,
                      help="harmful means influence below this (negative) value; 'auto' (default): "
                      "median - 3 x 1.4826 x MAD of the non-zero scores")
    rule.add_argument("--min-occurrences", type=int, default=5,
                      help="validation pairs a candidate must be below the threshold on (default: 5)")
    rule.add_argument("--max-exclusions", type=int, default=30,
                      help="most recordings in the written list (default: 30)")
    rule.add_argument("--consider-both-samples", action="store_true",
                      help="criterion pairs: exclude both recordings of each harmful pair")
    p.add_argument("--verbose", action="store_true", help="show the ranking and every decision")
    return p.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> ExclusionConfig:
    return ExclusionConfig(**vars(args))


def resolve_threshold(cfg: ExclusionConfig, pair_scores: np.ndarray, recording_scores: np.ndarray) -> tuple[float | None, str]:
    """The threshold value (None for self-influence) and how the header states it."""
    if cfg.criterion == CRITERION_SELF_INFLUENCE:
        return None, "not used (criterion self-influence)"
    if cfg.threshold != AUTO:
        value = float(cfg.threshold)
        text = f"{value:g}"
    else:
        scores = pair_scores if cfg.criterion == CRITERION_PAIRS else recording_scores
        value = suggest_threshold(scores)
        what = "pair" if cfg.criterion == CRITERION_PAIRS else "per-recording"
        print(f"threshold auto: {value:.6g} (median - 3 x 1.4826 x MAD of the non-zero {what} scores)")
        text = f"auto ({value!r})"
    if value > 0:
        log.warning(
            "threshold %g is positive: only negative influence is harmful, so candidates may include "
            "recordings that helped", value
        )
    return value, text


def explain(cfg: ExclusionConfig, selection: Selection, n_val: int) -> None:
    """Print the outcome; with --verbose also the ranking."""
    if selection.criterion == CRITERION_SELF_INFLUENCE:
        rule = f"self-influence above the outlier cut {selection.cut:.6g}"
        what = "recordings"
    else:
        rule = f"influence below {selection.threshold:g} on at least {cfg.min_occurrences} of {n_val} validation pairs"
        what = "training pairs" if selection.criterion == CRITERION_PAIRS else "training recordings"
    if selection.qualifying == 0:
        print(f"no {what} qualify ({rule}); the list will hold only its header")
        return
    print(f"{selection.qualifying} {what} qualify ({rule}); listing {len(selection.exclusions)} recordings "
          f"(--max-exclusions {cfg.max_exclusions})")
    for e in selection.exclusions:
        extra = f", self-influence {e.self_influence:.4g}" if e.self_influence is not None else ""
        extra += f", in {e.harmful_pairs} harmful pairs" if e.harmful_pairs is not None else ""
        print(f"  {e.sample_id}: {e.negative_occurrences} negative occurrences, "
              f"average influence {e.average_influence:.4g}{extra}")
    if selection.vetoed:
        print(f"left out because they are commented out in the list: {', '.join(selection.vetoed)}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    cfg = config_from_args(args)
    today = datetime.date.today().isoformat()
    log.debug("configuration: %s", {k: str(v) for k, v in asdict(cfg).items()})

    # Sample metadata beside the influence file: ids for legacy pair ids, self-influence, and
    # where --update-metadata writes. A malformed file is an error and is never overwritten.
    try:
        metadata_path = sample_metadata_path_for(cfg.metadata_file)
    except ValueError:
        if cfg.update_metadata:
            raise
        metadata_path = None
    store = None
    if metadata_path is not None and (metadata_path.exists() or cfg.update_metadata):
        store = MetadataStore.load(metadata_path, must_exist=cfg.update_metadata)

    data = load_influence(cfg.metadata_file, sample_records=store.records if store else None)
    if cfg.criterion == CRITERION_SELF_INFLUENCE and data.recording_self_influence is None:
        raise ValueError(
            f"criterion self-influence needs recording self-influence, and {cfg.metadata_file} has none "
            "(recompute it with compute_tracin_influence.py, or choose --criterion pairs or recordings)"
        )
    P, Q = data.influence.shape
    zeros = int(np.count_nonzero(data.influence == 0))
    print(
        f"{cfg.metadata_file}: {P} training pairs x {Q} validation pairs, {len(data.recording_ids)} training recordings"
        + (f"; {zeros} of {data.influence.size} scores are exactly 0 (pairs beyond the margin have no gradient)"
           if zeros else "")
    )
    if cfg.criterion != CRITERION_SELF_INFLUENCE and cfg.min_occurrences > Q:
        log.warning("--min-occurrences %d is more than the %d validation pairs: nothing can qualify",
                    cfg.min_occurrences, Q)
    if cfg.criterion == CRITERION_SELF_INFLUENCE:
        log.debug("criterion self-influence does not use --threshold or --min-occurrences")

    old_commented: list[str] = []
    if cfg.output_file.exists():
        old_commented = load_exclusions(cfg.output_file).commented_out

    threshold, threshold_text = resolve_threshold(cfg, data.influence, data.recording_influence)
    selection = select_exclusions(
        cfg.criterion,
        data.train_pairs,
        data.influence,
        data.recording_ids,
        data.recording_influence,
        data.recording_self_influence,
        threshold,
        cfg.min_occurrences,
        cfg.max_exclusions,
        cfg.consider_both_samples,
        forbidden=old_commented,
    )
    if cfg.verbose and cfg.criterion == CRITERION_PAIRS:
        ranked = rank_harmful_pairs(data.influence, threshold, cfg.min_occurrences)
        for k, (row, occ, mean) in enumerate(zip(ranked.index[:20], ranked.occurrences, ranked.mean)):
            a, b = data.train_pairs[row]
            log.debug("harmful pair %d: %s + %s: %d below threshold, mean %.4g", k + 1, a, b, occ, mean)
    if cfg.criterion == CRITERION_SELF_INFLUENCE and cfg.verbose:
        log.debug("outlier cut on self-influence: %.6g", selection.cut)
    explain(cfg, selection, Q)

    header = header_lines(
        cfg.metadata_file.resolve(), cfg.criterion, threshold_text, cfg.min_occurrences, cfg.max_exclusions,
        cfg.consider_both_samples, selection, data.info,
    )
    update = update_exclusion_file(cfg.output_file, header, selection.ids, today)
    if not update.written:
        print(f"{cfg.output_file}: unchanged")
    else:
        print(f"wrote {cfg.output_file} ({len(selection.ids)} ids)" + (f"; previous list kept as {update.backup}" if update.backup else ""))
    if update.existed:
        print(f"  added: {', '.join(update.added) or 'none'}")
        print(f"  removed: {', '.join(update.removed) or 'none'}")
        if update.commented_out:
            print(f"  kept commented out: {', '.join(update.commented_out)}")
        if update.notes:
            log.debug("carried over %d comment line(s) written by hand", len(update.notes))

    if cfg.update_metadata and store is not None:  # store is always loaded with --update-metadata
        changes = apply_to_metadata(
            store.records, selection, data.val_pair_ids, today, update.commented_out, cfg.output_file.name
        )
        wrote = store.save(backup=True)
        print(
            f"{store.path}: {len(changes.newly_excluded)} newly excluded, {len(changes.updated)} updated, "
            f"{len(changes.unchanged)} unchanged, {len(changes.reincluded)} back to excluded: false"
            + (f"; previous file kept as {store.path}.bak" if wrote else "; not rewritten")
        )
        for sid in changes.reincluded:
            log.debug("no longer excluded: %s", sid)

    if cfg.plot is not None:
        plot_exclusions(cfg.plot, data.recording_ids, data.recording_influence, selection, data.recording_self_influence)
        print(f"wrote {cfg.plot}")
    return 0


if __name__ == "__main__":
    run_cli(main, "generate_tracin_exclusions.py")
