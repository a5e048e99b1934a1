"""From an influence file to an exclusion list: the library behind generate_tracin_exclusions.py.

`generate_exclusions(cfg)` reads the influence files (and the sample metadata beside them),
selects recordings with one of the rules of `exclusion.rules`, rewrites the list keeping
hand edits (`exclusion.list_file`), writes the relabel suggestions beside it, optionally
records the reasons in the sample metadata (`exclusion.report`) and draws a picture
(`exclusion.plots`), all or nothing (`exclusion.outputs`); then the review sheet
(`exclusion.review`). It returns an `ExclusionResult`; `ExclusionResult.lines()` is what
the script prints.
"""
from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from pathlib import Path

from datasets.config import resolve_data_root
from datasets.exclusions import load_exclusions, match_known_ids
from datasets.metadata import MetadataStore
from datasets.relabels import render_relabels
from exclusion.config import AUTO, ExclusionConfig
from exclusion.list_file import ExclusionFileUpdate, plan_exclusion_file
from exclusion.outputs import write_exclusion_outputs
from exclusion.plots import plot_exclusions
from exclusion.report import MetadataUpdate, apply_to_metadata, header_lines, reason
from exclusion.review import ReviewFiles, review_for_selection
from exclusion.rules import LowScores, RuleInputs, Selection, select_exclusions
from influence.fingerprint import check_influence_files, check_sample_metadata
from influence.io import InfluenceData, load_influence, read_matrix, read_run_info, recorded_data_root
from utils.atomic_io import write_text_atomic
from utils.backups import Output
from utils.locking import folder_lock
from utils.constants import (
    CRITERION_COMBINED,
    CRITERION_MISFIT,
    CRITERION_PAIRS,
    CRITERION_RECORDINGS,
    EXCLUSIONS_DIR,
    EXCLUSIONS_SUFFIX,
    INFLUENCE_SUFFIX,
    RELABEL_SUFFIX,
    sample_metadata_path_for,
)

__all__ = ["ExclusionConfig", "ExclusionResult", "default_output_file", "generate_exclusions", "rule_inputs"]

log = logging.getLogger(__name__)


def default_output_file(influence_file: Path, run: dict | None = None) -> Path:
    """`DATA_ROOT/exclusions/<material>_<frequency>_tracin_exclusions.txt` for `.../<material>_<frequency>_influence_metadata.json`.

    DATA_ROOT is the data root compute_tracin_influence.py recorded in the influence run file
    beside the influence file (`resolve_data_root` decides, as for every step).
    """
    name = influence_file.name
    if not name.endswith(INFLUENCE_SUFFIX):
        raise ValueError(f"pass --output-file: cannot name a list after {influence_file} (expected *{INFLUENCE_SUFFIX})")
    root = resolve_data_root(recorded=recorded_data_root(influence_file, run), inside=influence_file,
                             recorded_as="compute_tracin_influence.py used")
    return root / EXCLUSIONS_DIR / (name[: -len(INFLUENCE_SUFFIX)] + EXCLUSIONS_SUFFIX)


def relabel_path_for(list_file: Path) -> Path:
    """`x_tracin_exclusions.txt` -> `x_tracin_exclusions_relabel.txt`."""
    return list_file.with_name(list_file.stem + RELABEL_SUFFIX)


def rule_inputs(data: InfluenceData) -> RuleInputs:
    """What the rules read, from an influence file's contents."""
    scored = data.info.get("validation_pairs_scored", {}) if isinstance(data.info, dict) else {}
    columns = int(scored.get("scored", data.n_validation_pairs)) if isinstance(scored, dict) else data.n_validation_pairs
    return RuleInputs(
        recording_ids=data.recording_ids,
        angles=data.angles[data.recordings],
        train_pairs=data.training_pairs_by_recording(),
        pair_scores=LowScores(data.pair_low_z, data.pair_low_idx, data.pair_mean_z, columns),
        recording_scores=LowScores(data.rec_low_z, data.rec_low_idx, data.rec_mean_z, data.n_validation_pairs),
        self_influence=data.rec_self_influence,
        checkpoint_scores=data.checkpoint_scores,
    )


@dataclass
class ExclusionResult:
    """What `generate_exclusions` read, chose and wrote."""

    config: ExclusionConfig
    output_file: Path
    data: InfluenceData
    selection: Selection
    list_update: ExclusionFileUpdate
    relabel_file: Path | None = None
    metadata: MetadataStore | None = None
    metadata_update: MetadataUpdate | None = None
    metadata_written: bool = False
    metadata_backup: Path | None = None
    plot: Path | None = None
    review: ReviewFiles | None = None

    def lines(self) -> list[str]:
        """The report the script prints: inputs, the rule, what it listed and why, and every file written."""
        cfg, data, sel = self.config, self.data, self.selection
        lines = [f"{cfg.metadata_file}: {len(data.train_pairs)} training pairs x {data.n_validation_pairs} validation "
                 f"pairs, {len(data.recordings)} training recordings; scores are robust z (docs/design.md)"]
        if cfg.threshold == AUTO:
            lines.append(f"threshold auto: {cfg.threshold_value:g} (the same on every run: scores are scale-free)")
        lines += self._selection_lines()
        update = self.list_update
        if not update.written:
            lines.append(f"{self.output_file}: unchanged")
        else:
            lines.append(f"wrote {self.output_file} ({len(sel.ids)} ids)"
                         + (f"; previous list kept as {update.backup}" if update.backup else ""))
        if update.existed:
            lines.append(f"  added: {', '.join(update.added) or 'none'}")
            lines.append(f"  removed: {', '.join(update.removed) or 'none'}")
            if update.commented_out:
                lines.append(f"  kept commented out: {', '.join(update.commented_out)}")
        if self.relabel_file is not None:
            lines.append(f"relabel suggestions: {self.relabel_file} (train.py --relabel-file uses them; nothing is "
                         "relabelled unless you pass it)")
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

    def _selection_lines(self) -> list[str]:
        sel, cfg = self.selection, self.config
        what = {CRITERION_PAIRS: "harmful training pairs", CRITERION_RECORDINGS: "training recordings",
                CRITERION_MISFIT: "misfit recordings", CRITERION_COMBINED: "recordings (harmful pairs or misfit)"}
        lines = [f"criterion {sel.criterion}: {sel.qualifying} {what.get(sel.criterion, 'recordings')} qualify; listing "
                 f"{len(sel.exclusions)} recordings (--max-exclusions {cfg.max_exclusions})"]
        for e in sel.exclusions:
            angle = "" if e.suggested_angle is None else f", suggested angle {e.suggested_angle:g}"
            lines.append(f"  {e.sample_id} [{e.rule}{angle}]")
            if cfg.verbose:
                lines.append(f"      {reason(e, sel, cfg.min_occurrences, self.data.n_validation_pairs)}")
        if sel.vetoed:
            lines.append(f"left out because they are commented out in the list: {', '.join(sel.vetoed)}")
        if sel.kept_for_angle:
            lines.append("kept in training because each is the last training recording of its angle: "
                         + ", ".join(sel.kept_for_angle))
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


def _list_notes(selection: Selection, stored: dict[str, float]) -> dict[str, str]:
    """The tool's note after each listed id: the rule, and the suggested angle when it differs."""
    notes = {}
    for e in selection.exclusions:
        angle = e.suggested_angle
        moved = angle is not None and angle != stored.get(e.sample_id)
        notes[e.sample_id] = e.rule + (f"; suggested angle {angle:g}" if moved else "")
    return notes


def generate_exclusions(cfg: ExclusionConfig) -> ExclusionResult:
    """Select recordings to exclude and write the list (and, as asked, the metadata and a picture),
    holding the metadata folder's lock: no compute or other generate writes there meanwhile."""
    with folder_lock(cfg.metadata_file.parent, cfg.lock_timeout):
        return _generate_locked(cfg)


def _generate_locked(cfg: ExclusionConfig) -> ExclusionResult:
    log.debug("configuration: %s", cfg.to_dict())
    today = datetime.date.today().isoformat()
    run = read_run_info(cfg.metadata_file)  # each file beside the influence file is read once
    output_file = cfg.output_file or default_output_file(cfg.metadata_file, run)
    store = _sample_metadata(cfg)
    matrix = read_matrix(cfg.metadata_file)
    # One compute run wrote them all, or a one-line refusal.
    check_influence_files(cfg.metadata_file, run, None if matrix is None else (matrix[0].info, matrix[1]))
    data = load_influence(cfg.metadata_file, sample_records=store.records if store else None, matrix=matrix, run=run)
    if store is not None:
        check_sample_metadata(cfg.metadata_file, store.records, data.sample_ids, store.path, run)
    if data.pair_low_z.shape[1] == 0 and cfg.criterion in (CRITERION_PAIRS, CRITERION_COMBINED):
        raise ValueError(f"{cfg.metadata_file} holds no pair scores (compute ran with --compute-self-influence only): "
                         "rerun compute_tracin_influence.py with --compute-influence, or choose --criterion "
                         "self-influence or misfit")
    # Ids commented out by hand, as the recordings spell them (case and zero padding aside).
    forbidden = match_known_ids(load_exclusions(output_file).commented_out if output_file.exists() else [],
                                data.recording_ids)
    if cfg.threshold_value > 0:
        log.warning("threshold %g is positive: only scores below 0 are harmful, so candidates may include recordings "
                    "that helped", cfg.threshold_value)
    inputs = rule_inputs(data)
    selection = select_exclusions(cfg.criterion, inputs, cfg.threshold_value, cfg.min_occurrences, cfg.max_exclusions,
                                  cfg.consider_both_samples, forbidden=forbidden)
    header = header_lines(
        cfg.metadata_file.resolve(), cfg.criterion, f"{cfg.threshold_value:g} (robust z)", cfg.min_occurrences,
        cfg.max_exclusions, cfg.consider_both_samples, selection, data.info,
    )
    stored = dict(zip(inputs.recording_ids, inputs.angles.tolist()))
    plan = plan_exclusion_file(output_file, header, selection.ids, today, _list_notes(selection, stored))
    if plan.update.notes:
        log.debug("carried over %d comment line(s) written by hand", len(plan.update.notes))
    result = ExclusionResult(cfg, output_file, data, selection, plan.update)

    if cfg.update_metadata and store is not None:  # store is always loaded with --update-metadata
        result.metadata = store
        result.metadata_update = apply_to_metadata(
            store.records, selection, data.val_pair_ids, today, forbidden, output_file.name
        )
        for sid in result.metadata_update.reincluded:
            log.debug("no longer excluded: %s", sid)

    extra = []
    result.relabel_file = relabel_path_for(output_file)
    previous = result.relabel_file.read_text(encoding="utf-8", errors="replace") if result.relabel_file.is_file() else None
    relabels = render_relabels(
        [(e.sample_id, e.suggested_angle, stored[e.sample_id], e.rule) for e in selection.exclusions
         if e.suggested_angle is not None and e.suggested_angle != stored[e.sample_id]], output_file.name, previous)
    if relabels != previous:  # a person's file is replaced only with a dated backup of it
        extra.append(Output(result.relabel_file, lambda tmp: write_text_atomic(tmp, relabels), backup=True))
    if cfg.plot is not None:
        result.plot = output_file.with_suffix(".png") if cfg.plot_beside_list else cfg.plot
        extra.append(Output(result.plot, lambda tmp: plot_exclusions(tmp, inputs, selection)))
    # All or nothing: the list, the relabel suggestions, the metadata, their dated backups and the picture.
    written = write_exclusion_outputs(plan, result.metadata, extra)
    result.metadata_written, result.metadata_backup = written.metadata_written, written.metadata_backup

    # The review sheet beside the list (exclusion/review.py): what is listed, why, and the spectrograms.
    root = resolve_data_root(recorded=recorded_data_root(cfg.metadata_file, run), inside=cfg.metadata_file)
    result.review = review_for_selection(output_file, selection, load_exclusions(output_file).ids, data,
                                         store.records if store else {}, root, cfg.min_occurrences)
    return result
