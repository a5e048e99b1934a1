"""From an influence file to an exclusion list: the library behind generate_tracin_exclusions.py.

`generate_exclusions(cfg)` reads the influence file (and the sample metadata beside it),
resolves the threshold, selects recordings with one of the rules of `exclusion.rules`,
rewrites the list keeping hand edits (`exclusion.list_file`), optionally records the
reasons in the sample metadata (`exclusion.report`) and draws a picture
(`exclusion.plots`). It returns an `ExclusionResult`; `ExclusionResult.lines()` is what
the script prints.
"""
from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datasets.config import resolve_data_root
from datasets.exclusions import load_exclusions, match_known_ids
from datasets.metadata import MetadataStore
from exclusion.config import AUTO, ExclusionConfig
from exclusion.list_file import ExclusionFileUpdate, plan_exclusion_file
from exclusion.outputs import write_exclusion_outputs
from exclusion.plots import plot_exclusions
from exclusion.report import MetadataUpdate, apply_to_metadata, header_lines
from exclusion.review import ReviewFiles, review_for_selection
from exclusion.rules import Selection, select_exclusions
from influence.fingerprint import check_influence_files, check_sample_metadata
from influence.io import InfluenceData, load_influence, recorded_data_root
from influence.stats import suggest_threshold
from utils.constants import (
    CRITERION_PAIRS,
    CRITERION_SELF_INFLUENCE,
    EXCLUSIONS_DIR,
    EXCLUSIONS_SUFFIX,
    INFLUENCE_SUFFIX,
    sample_metadata_path_for,
)

__all__ = ["ExclusionConfig", "ExclusionResult", "default_output_file", "generate_exclusions", "resolve_threshold"]

log = logging.getLogger(__name__)

VERBOSE_RANKED_PAIRS = 20


def default_output_file(influence_file: Path) -> Path:
    """`DATA_ROOT/exclusions/<material>_<frequency>_tracin_exclusions.txt` for `.../<material>_<frequency>_influence_metadata.json`.

    DATA_ROOT is the data root compute_tracin_influence.py recorded in the influence run file
    beside the influence file (`resolve_data_root` decides, as for every step).
    """
    name = influence_file.name
    if not name.endswith(INFLUENCE_SUFFIX):
        raise ValueError(f"pass --output-file: cannot name a list after {influence_file} (expected *{INFLUENCE_SUFFIX})")
    root = resolve_data_root(recorded=recorded_data_root(influence_file), inside=influence_file,
                             recorded_as="compute_tracin_influence.py used")
    return root / EXCLUSIONS_DIR / (name[: -len(INFLUENCE_SUFFIX)] + EXCLUSIONS_SUFFIX)


@dataclass
class Threshold:
    """The threshold a rule uses (None for self-influence), how the list header states it, and
    the value `--threshold auto` chose (None when it chose nothing)."""

    value: float | None
    text: str
    auto: float | None = None


def resolve_threshold(cfg: ExclusionConfig, data: InfluenceData) -> Threshold:
    """`--threshold` as a number, or `auto`: `suggest_threshold` of the scores the criterion compares."""
    if cfg.criterion == CRITERION_SELF_INFLUENCE:
        return Threshold(None, "not used (criterion self-influence)")
    if cfg.threshold != AUTO:
        threshold = Threshold(float(cfg.threshold), f"{float(cfg.threshold):g}")
    else:
        scores = data.influence if cfg.criterion == CRITERION_PAIRS else data.recording_influence
        value = suggest_threshold(scores)
        threshold = Threshold(value, f"auto ({value!r})", auto=value)
    if threshold.value > 0:
        log.warning(
            "threshold %g is positive: only negative influence is harmful, so candidates may include "
            "recordings that helped", threshold.value
        )
    return threshold


@dataclass
class ExclusionResult:
    """What `generate_exclusions` read, chose and wrote."""

    config: ExclusionConfig
    output_file: Path
    data: InfluenceData
    threshold: Threshold
    selection: Selection
    list_update: ExclusionFileUpdate
    metadata: MetadataStore | None = None
    metadata_update: MetadataUpdate | None = None
    metadata_written: bool = False
    metadata_backup: Path | None = None
    plot: Path | None = None
    review: ReviewFiles | None = None

    def lines(self) -> list[str]:
        """The report the script prints: inputs, threshold, the ranking, and every file written."""
        cfg, data = self.config, self.data
        P, Q = data.influence.shape
        zeros = int(np.count_nonzero(data.influence == 0))
        lines = [
            f"{cfg.metadata_file}: {P} training pairs x {Q} validation pairs, {len(data.recording_ids)} training recordings"
            + (f"; {zeros} of {data.influence.size} scores are exactly 0 (pairs beyond the margin have no gradient)"
               if zeros else "")
        ]
        if self.threshold.auto is not None:
            what = "pair" if cfg.criterion == CRITERION_PAIRS else "per-recording"
            lines.append(f"threshold auto: {self.threshold.auto:.6g} (median - 3 x 1.4826 x MAD of the non-zero {what} scores)")
        lines += self._selection_lines(Q)
        update = self.list_update
        if not update.written:
            lines.append(f"{self.output_file}: unchanged")
        else:
            lines.append(f"wrote {self.output_file} ({len(self.selection.ids)} ids)"
                         + (f"; previous list kept as {update.backup}" if update.backup else ""))
        if update.existed:
            lines.append(f"  added: {', '.join(update.added) or 'none'}")
            lines.append(f"  removed: {', '.join(update.removed) or 'none'}")
            if update.commented_out:
                lines.append(f"  kept commented out: {', '.join(update.commented_out)}")
        if self.metadata_update is not None and self.metadata is not None:
            changes, path = self.metadata_update, self.metadata.path
            lines.append(
                f"{path}: {len(changes.newly_excluded)} newly excluded, {len(changes.updated)} updated, "
                f"{len(changes.unchanged)} unchanged, {len(changes.reincluded)} back to excluded: false"
                + ("; not rewritten" if not self.metadata_written else
                   f"; previous file kept as {self.metadata_backup}" if self.metadata_backup else "")
            )
        if self.plot is not None:
            lines.append(f"wrote {self.plot}")
        if self.review is not None:
            lines.append(f"review sheet: {self.review.markdown} (also {self.review.csv.name}"
                         + (f", {self.review.picture.name})" if self.review.picture else ")"))
        return lines

    def _selection_lines(self, n_val: int) -> list[str]:
        selection, cfg = self.selection, self.config
        if selection.criterion == CRITERION_SELF_INFLUENCE:
            rule = f"self-influence above the outlier cut {selection.cut:.6g}"
            what = "recordings"
        else:
            rule = f"influence below {selection.threshold:g} on at least {cfg.min_occurrences} of {n_val} validation pairs"
            what = "training pairs" if selection.criterion == CRITERION_PAIRS else "training recordings"
        if selection.qualifying == 0:
            return [f"no {what} qualify ({rule}); the list will hold only its header"]
        lines = [f"{selection.qualifying} {what} qualify ({rule}); listing {len(selection.exclusions)} recordings "
                 f"(--max-exclusions {cfg.max_exclusions})"]
        for e in selection.exclusions:
            extra = f", self-influence {e.self_influence:.4g}" if e.self_influence is not None else ""
            extra += f", in {e.harmful_pairs} harmful pairs" if e.harmful_pairs is not None else ""
            lines.append(f"  {e.sample_id}: {e.negative_occurrences} negative occurrences, "
                         f"average influence {e.average_influence:.4g}{extra}")
        if selection.vetoed:
            lines.append(f"left out because they are commented out in the list: {', '.join(selection.vetoed)}")
        return lines


def _sample_metadata(cfg: ExclusionConfig) -> MetadataStore | None:
    """The sample metadata beside the influence file: ids for legacy pair ids, self-influence, and
    where --update-metadata writes. A malformed file is an error and is never overwritten."""
    try:
        path = sample_metadata_path_for(cfg.metadata_file)
    except ValueError:
        if cfg.update_metadata:
            raise
        return None
    if path.exists() or cfg.update_metadata:
        return MetadataStore.load(path, must_exist=cfg.update_metadata)
    return None


def _check_inputs(cfg: ExclusionConfig, data: InfluenceData) -> None:
    if cfg.criterion == CRITERION_SELF_INFLUENCE:
        if data.recording_self_influence is None:
            raise ValueError(
                f"criterion self-influence needs recording self-influence, and {cfg.metadata_file} has none "
                "(recompute it with compute_tracin_influence.py, or choose --criterion pairs or recordings)"
            )
        log.debug("criterion self-influence does not use --threshold or --min-occurrences")
    elif cfg.min_occurrences > len(data.val_pairs):
        log.warning("--min-occurrences %d is more than the %d validation pairs: nothing can qualify",
                    cfg.min_occurrences, len(data.val_pairs))


def _log_ranking(selection: Selection, data: InfluenceData) -> None:
    """--verbose: the most harmful pairs as the rule ranked them, or the outlier cut."""
    if selection.ranking is not None:
        ranked = selection.ranking
        for k, (row, occ, mean) in enumerate(zip(ranked.index[:VERBOSE_RANKED_PAIRS], ranked.occurrences, ranked.mean)):
            a, b = data.train_pairs[row]
            log.debug("harmful pair %d: %s + %s: %d below threshold, mean %.4g", k + 1, a, b, occ, mean)
    if selection.cut is not None:
        log.debug("outlier cut on self-influence: %.6g", selection.cut)


def generate_exclusions(cfg: ExclusionConfig) -> ExclusionResult:
    """Select recordings to exclude and write the list (and, as asked, the metadata and a picture)."""
    log.debug("configuration: %s", cfg.to_dict())
    today = datetime.date.today().isoformat()
    output_file = cfg.output_file or default_output_file(cfg.metadata_file)
    store = _sample_metadata(cfg)
    check_influence_files(cfg.metadata_file)  # one compute run wrote them all, or a one-line refusal
    data = load_influence(cfg.metadata_file, sample_records=store.records if store else None)
    if store is not None:
        val_ids = sorted({sid for pair in data.val_pairs for sid in pair})
        check_sample_metadata(cfg.metadata_file, store.records, [*data.recording_ids, *val_ids], store.path)
    _check_inputs(cfg, data)
    # Ids commented out by hand, as the recordings spell them (case and zero padding aside).
    forbidden = match_known_ids(load_exclusions(output_file).commented_out if output_file.exists() else [],
                                data.recording_ids)
    threshold = resolve_threshold(cfg, data)
    selection = select_exclusions(
        cfg.criterion,
        data.train_pairs,
        data.influence,
        data.recording_ids,
        data.recording_influence,
        data.recording_self_influence,
        threshold.value,
        cfg.min_occurrences,
        cfg.max_exclusions,
        cfg.consider_both_samples,
        forbidden=forbidden,
    )
    if cfg.verbose:
        _log_ranking(selection, data)

    header = header_lines(
        cfg.metadata_file.resolve(), cfg.criterion, threshold.text, cfg.min_occurrences, cfg.max_exclusions,
        cfg.consider_both_samples, selection, data.info,
    )
    plan = plan_exclusion_file(output_file, header, selection.ids, today)
    update = plan.update
    if update.notes:
        log.debug("carried over %d comment line(s) written by hand", len(update.notes))
    result = ExclusionResult(cfg, output_file, data, threshold, selection, update)

    if cfg.update_metadata and store is not None:  # store is always loaded with --update-metadata
        result.metadata = store
        result.metadata_update = apply_to_metadata(
            store.records, selection, data.val_pair_ids, today, forbidden, output_file.name
        )
        for sid in result.metadata_update.reincluded:
            log.debug("no longer excluded: %s", sid)

    plot = None
    if cfg.plot is not None:
        result.plot = output_file.with_suffix(".png") if cfg.plot_beside_list else cfg.plot
        plot = (result.plot, lambda tmp: plot_exclusions(tmp, data.recording_ids, data.recording_influence, selection,
                                                         data.recording_self_influence))
    # All or nothing: the list, the metadata, their dated backups and the picture, together.
    written = write_exclusion_outputs(plan, result.metadata, plot)
    result.metadata_written, result.metadata_backup = written.metadata_written, written.metadata_backup

    # The review sheet beside the list (exclusion/review.py): what is listed, why, and the spectrograms.
    root = resolve_data_root(recorded=recorded_data_root(cfg.metadata_file), inside=cfg.metadata_file)
    result.review = review_for_selection(output_file, selection, load_exclusions(output_file).ids, data,
                                         store.records if store else {}, root, cfg.min_occurrences)
    return result
