"""From an influence file to an exclusion list: the library behind generate_tracin_exclusions.py.

`generate_exclusions(cfg)` reads the influence files (and the sample metadata beside them),
selects recordings with one of the rules of `exclusion.rules`, rewrites the list keeping
hand edits (`exclusion.list_file`), writes the relabel suggestions beside it (keeping hand
edits too, `datasets.relabels`), optionally records the reasons in the sample metadata
(`exclusion.report`), draws a picture (`exclusion.plots`) and the review sheet
(`exclusion.review`), and writes them all or nothing (`exclusion.outputs`), the list, the
relabel file and the metadata stamped with one generate stamp (`datasets.stamps`). Before
that, it finishes what a killed generate left half-written (`utils.staging.recover_staging`).
It returns an `ExclusionResult`; `ExclusionResult.lines()` is what the script prints.
"""
from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from pathlib import Path

from datasets.config import resolve_data_root
from datasets.exclusions import load_exclusions, match_known_ids
from datasets.metadata import MetadataStore
from datasets.relabels import RelabelPlan, read_relabel_text, relabel_path_for, render_relabels
from datasets.stamps import list_stamp_line, set_disagreement
from exclusion.config import ExclusionConfig
from exclusion.criteria import COMBINED, MISFIT, PAIRS, PROFILE, RECORDINGS
from exclusion.label_noise import profile_features
from exclusion.list_file import ExclusionFilePlan, ExclusionFileUpdate, plan_exclusion_file
from exclusion.outputs import write_exclusion_outputs
from exclusion.plots import exclusion_picture
from exclusion.report import MetadataUpdate, apply_to_metadata, decisions, header_lines, reason, stamp_records
from exclusion.review import ReviewFiles, review_for_selection
from exclusion.rules import Exclusion, Profiles, RuleInputs, Selection, select_exclusions
from influence.fingerprint import check_influence_files, check_sample_metadata
from influence.data import InfluenceData
from influence.io import load_influence, read_matrix, read_run_info, recorded_data_root
from influence.records import InfluenceRun
from utils.backups import Output
from utils.constants import (
    EXCLUSIONS_DIR,
    EXCLUSIONS_SUFFIX,
    INFLUENCE_SUFFIX,
    sample_metadata_path_for,
)
from utils.hashing import fingerprint as fingerprint_of
from utils.locking import folder_lock
from utils.staging import recover_staging

__all__ = ["ExclusionConfig", "ExclusionResult", "default_output_file", "generate_exclusions", "rule_inputs"]

log = logging.getLogger(__name__)


def default_output_file(influence_file: Path, run: InfluenceRun | None = None) -> Path:
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


def rule_inputs(data: InfluenceData) -> RuleInputs:
    """What the rules read, from an influence file's contents."""
    return RuleInputs(
        recording_ids=data.recording_ids,
        angles=data.angles[data.recordings],
        train_pairs=data.training_pairs_by_recording(),
        pair_scores=data.pair_scores(),
        recording_scores=data.recording_scores(),
        self_influence=data.rec_self_influence,
        checkpoint_scores=data.checkpoint_scores,
        profiles=None if data.profile_levels is None else Profiles(
            profile_features(data.profile_levels, data.profile_floors), data.angles, data.recordings),
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
    list_plan: ExclusionFilePlan | None = None
    relabel_plan: RelabelPlan | None = None
    relabel_backup: Path | None = None
    stamp: str = ""
    run_info: InfluenceRun | None = None
    """The influence run file's contents, read once."""

    def lines(self) -> list[str]:
        """The report the script prints: inputs, the rule, what it listed and why, and every file written."""
        cfg, data, sel = self.config, self.data, self.selection
        lines = [f"{cfg.metadata_file}: {len(data.train_pairs)} training pairs x {data.n_validation_pairs} validation "
                 f"pairs, {len(data.recordings)} training recordings; scores are robust z (docs/design.md)"]
        if cfg.auto_threshold:
            lines.append(f"threshold auto: {cfg.threshold:g} (the same on every run: scores are scale-free)")
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
            if update.kept_by_hand:
                lines.append(f"  kept listed, added by hand: {', '.join(update.kept_by_hand)}")
            if update.notes:
                lines.append(f"  kept {len(update.notes)} comment line(s) of yours that sit on no id, at the end")
        if self.relabel_file is not None:
            lines += self._relabel_lines()
        if update.written and self.stamp:
            lines.append(f"generate stamp: {self.stamp} (the list, the relabel file"
                         + (" and the sample metadata" if self.metadata is not None else "") + " carry it)")
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
            lines += self.review.lines()
        return lines

    def _relabel_lines(self) -> list[str]:
        lines = [f"relabel suggestions: {self.relabel_file} (train.py --relabel-file uses them; nothing is "
                 "relabelled unless you pass it)" + (f"; previous file kept as {self.relabel_backup}"
                                                     if self.relabel_backup else "")]
        for edit in self.relabel_plan.kept if self.relabel_plan else []:
            now = "the tool suggests nothing for it now" if edit.suggested is None else \
                f"the tool suggests {edit.suggested:g}"
            lines.append(f"  kept as you left it: {edit.sample_id} ({edit.kind}; {now})")
        return lines

    def _selection_lines(self) -> list[str]:
        sel, cfg = self.selection, self.config
        what = {PAIRS: "harmful training pairs", RECORDINGS: "training recordings", PROFILE: "training takes",
                MISFIT: "misfit recordings", COMBINED: "recordings (harmful pairs or misfit)"}
        lines = [f"criterion {sel.criterion}: {sel.qualifying} {what.get(sel.criterion, 'recordings')} qualify; listing "
                 f"{len(sel.exclusions)} recordings (--max-exclusions {cfg.max_exclusions})"
                 + (f"; {sel.capped} more qualified but did not fit under the cap" if sel.capped else "")]
        if sel.verdicts is not None:
            v = sel.verdicts
            lines.append(f"the harmonic profiles estimate {v.eps:.0%} of the labels wrong and {v.delta:.0%} of the takes "
                         "broken" + ("" if sel.expected_false is None else
                                     f"; expected false listings among these: {sel.expected_false:.1f}"))
        for f in sel.withheld:
            lines.append(f"no angle suggested for the {f.takes} takes stored at {f.stored:g} that sound like {f.suggested:g}: "
                         f"more than accidental wrong labels explain ({f.expected:.1f} expected); the {f.stored:g} degree "
                         f"takes may sound two ways, or {f.suggested:g} degree recordings were filed under {f.stored:g}: "
                         "listen before relabelling")
        for e in sel.exclusions:
            angle = "" if e.suggested_angle is None else f", suggested angle {e.suggested_angle:g}" + (
                "" if e.suggestion_probability is None else f" (p={e.suggestion_probability:.2f})")
            lines.append(f"  {e.sample_id} [{e.rule}{angle}]")
            if cfg.verbose:
                lines.append(f"      {reason(e, sel, self.data.n_validation_pairs)}")
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
    """The tool's note on each listed id (the `# tracin:` line above it): the rules that listed it, its
    profile's verdict in numbers, and the suggested angle when there is one."""
    notes = {}
    for e in selection.exclusions:
        parts = [e.rule]
        if e.p_broken is not None and e.p_broken >= 0.5:
            parts.append(f"fits no angle (a broken take) p={e.p_broken:.2f}")
        elif e.p_wrong is not None:
            parts.append(f"stored angle wrong p={e.p_wrong:.2f}")
        angle = e.suggested_angle
        if angle is not None and angle != stored.get(e.sample_id):
            parts.append(f"suggested angle {angle:g}" + (
                "" if e.suggestion_probability is None else f" (p={e.suggestion_probability:.2f})"))
        notes[e.sample_id] = "; ".join(parts)
    return notes


def _relabel_note(e: Exclusion) -> str:
    """What the relabel file says after a suggestion: which rules listed the take, and how sure the angle is."""
    if e.suggestion_probability is None:  # where its ranker score lands: influence files without harmonic profiles
        return e.rule
    witnesses = "harmonic profile" if e.ranker_angle is None else "harmonic profile and ranker"
    return f"{e.rule}; recorded at this angle with probability {e.suggestion_probability:.2f} ({witnesses})"


def generate_exclusions(cfg: ExclusionConfig) -> ExclusionResult:
    """Select recordings to exclude and write the list (and, as asked, the metadata and a picture),
    holding the metadata folder's lock: no compute or other generate writes there meanwhile."""
    with folder_lock(cfg.metadata_file.parent, cfg.lock_timeout):
        recover_staging(cfg.metadata_file.parent)  # a killed compute's renames finished before its run file is read
        run = read_run_info(cfg.metadata_file)  # each file beside the influence file is read once
        return _generate_locked(cfg, _output_file(cfg, run), run)


def _output_file(cfg: ExclusionConfig, run: InfluenceRun | None) -> Path:
    """--output-file, else the default list; a folder is refused, naming the file to give."""
    output_file = cfg.output_file or default_output_file(cfg.metadata_file, run)
    if output_file.is_dir():
        example = output_file / default_output_file(cfg.metadata_file, run).name
        raise IsADirectoryError(f"--output-file {output_file} is a folder: name the list file, e.g. {example}")
    return output_file


def _recover(cfg: ExclusionConfig, output_file: Path) -> None:
    """Finish (or remove) what a killed generate or compute left half-written in the folders this run
    reads and writes, then warn about a set that still mixes two generate runs (this run replaces it)."""
    folders = {output_file.parent, cfg.metadata_file.parent}
    if cfg.plot is not None and not cfg.plot_beside_list:
        folders.add(cfg.plot.parent)
    for folder in folders:
        recover_staging(folder)
    problem = set_disagreement(output_file) if output_file.is_file() else None
    if problem:
        log.warning("%s (restored or copied by hand?): this run writes them anew, together; the old ones are kept as "
                    "dated backups", problem)


def _criterion_for(criterion: str, data: InfluenceData) -> str:
    """The criterion to run: `profile` needs the harmonic profiles of a current compute; on files without them
    (an older compute) it falls back to `combined`, the previous default, and says so."""
    return COMBINED if criterion == PROFILE and data.profile_levels is None else criterion


def _generate_locked(cfg: ExclusionConfig, output_file: Path, run: InfluenceRun) -> ExclusionResult:
    log.debug("configuration: %s", cfg.to_dict())
    _recover(cfg, output_file)
    store = _sample_metadata(cfg)
    matrix = read_matrix(cfg.metadata_file)
    # One compute run wrote them all, or a one-line refusal.
    fingerprint = check_influence_files(cfg.metadata_file, run, None if matrix is None else (matrix[0].info, matrix[1]))
    data = load_influence(cfg.metadata_file, sample_records=store.records if store else None, matrix=matrix, run=run)
    if store is not None:
        check_sample_metadata(cfg.metadata_file, store.records, data.sample_ids, store.path, run)
    # Ids commented out by hand, as the recordings spell them (case and zero padding aside).
    forbidden = match_known_ids(load_exclusions(output_file).commented_out if output_file.exists() else [],
                                data.recording_ids)
    if cfg.threshold > 0:
        log.warning("threshold %g is positive: only scores below 0 are harmful, so candidates may include recordings "
                    "that helped", cfg.threshold)
    inputs = rule_inputs(data)
    selection = select_exclusions(_criterion_for(cfg.criterion, data), inputs, cfg.rule_params(forbidden))
    if selection.criterion != cfg.criterion:  # said once the selection stands, so that an error stays one line
        log.warning("these influence files hold no harmonic profiles (written by an older compute_tracin_influence.py): "
                    "used --criterion %s instead of %s; rerun compute for the profile criterion", selection.criterion,
                    cfg.criterion)
    result = ExclusionResult(cfg, output_file, data, selection, ExclusionFileUpdate(output_file, False, None), run_info=run)
    result.relabel_file = relabel_path_for(output_file)
    outputs = _decide(result, inputs, store, forbidden, fingerprint)
    # All or nothing: the list, the relabel file, the metadata, their dated backups, the picture and the review sheet.
    written = write_exclusion_outputs(result.list_plan, result.metadata if result.metadata_written else None, outputs)
    result.metadata_backup = written.metadata_backup
    result.relabel_backup = written.backups.get(result.relabel_file)
    return result


def _decide(result: ExclusionResult, inputs: RuleInputs, store: MetadataStore | None, forbidden: list[str],
            fingerprint: str | None) -> list[Output]:
    """Everything this run writes, stamped with one generate stamp (`datasets.stamps`): the list's plan in
    `result`, the metadata's records updated in place, the rest returned as outputs."""
    cfg, data, selection, output_file = result.config, result.data, result.selection, result.output_file
    today = datetime.date.today().isoformat()
    header = header_lines(cfg, selection, data.info)
    stored = dict(zip(inputs.recording_ids, inputs.angles.tolist()))
    notes = _list_notes(selection, stored)
    plan = plan_exclusion_file(output_file, header, selection.ids, today, notes)
    previous = read_relabel_text(result.relabel_file) if result.relabel_file.is_file() else None
    entries = [(e.sample_id, e.suggested_angle, stored[e.sample_id], _relabel_note(e)) for e in selection.exclusions
               if e.suggested_angle is not None and e.suggested_angle != stored[e.sample_id]]
    if cfg.update_metadata and store is not None:  # store is always loaded with --update-metadata
        result.metadata = store
        result.metadata_update = apply_to_metadata(store.records, selection, data.val_pair_ids, today, forbidden,
                                                   output_file.name, plan.update.kept_by_hand, fingerprint)
    # The stamp covers what this run decided (not how a person laid the files out): a re-run that decides
    # the same keeps it, and rewrites nothing.
    stamp = fingerprint_of({"header": header, "listed": plan.listed, "notes": notes, "relabels": entries,
                            "metadata": decisions(store.records) if result.metadata is not None else None})
    metadata_path = result.metadata.path.resolve() if result.metadata is not None else None
    result.list_plan = plan_exclusion_file(output_file, header, selection.ids, today, notes,
                                           list_stamp_line(stamp, metadata_path))
    result.list_update, result.stamp = result.list_plan.update, stamp
    result.relabel_plan = render_relabels(entries, output_file.name, previous, stamp)
    if result.metadata is not None:
        stamp_records(result.metadata.records, stamp, output_file)
        result.metadata_written = result.metadata.changed or not result.metadata.path.exists()
    return _other_outputs(result, inputs, previous, store)


def _other_outputs(result: ExclusionResult, inputs: RuleInputs, previous: str | None,
                   store: MetadataStore | None) -> list[Output]:
    """The relabel file (when it changed), the picture (--plot) and the review sheet, as outputs to write together."""
    cfg, output_file = result.config, result.output_file
    outputs = []
    if result.relabel_plan.text != previous:  # a person's file is replaced only with a dated backup of it
        outputs.append(Output.of_text(result.relabel_file, result.relabel_plan.text, backup=True))
    if cfg.plot is not None:
        result.plot = output_file.with_suffix(".png") if cfg.plot_beside_list else cfg.plot
        outputs.append(Output.of_bytes(result.plot, exclusion_picture(inputs, result.selection)))
    # The review sheet beside the list (exclusion/review.py): what is listed, why, and the spectrograms.
    listed = result.list_plan.listed
    root = resolve_data_root(recorded=recorded_data_root(cfg.metadata_file, result.run_info), inside=cfg.metadata_file)
    result.review, review = review_for_selection(output_file, result.selection, listed, result.data,
                                                 store.records if store else {}, root, list_text=result.list_plan.text,
                                                 relabel_text=result.relabel_plan.text)
    return outputs + [out for out in review if not out.same_as_on_disk()]
