"""Recording why recordings were excluded: the sample metadata and the list header.

Sample metadata (`{material}_{frequency}_metadata.json`), for each excluded recording:

- `excluded: true`;
- `notes`: the reason and the date, e.g. `Excluded by TracIn (criterion=pairs,
  threshold=-3.0) on 2026-11-28: 12 negative occurrences, average influence -4.2`. Text a
  person wrote in `notes` is kept: the TracIn part is one ` | `-separated segment that
  starts with `Excluded by TracIn` or `No longer excluded by TracIn`, and only that
  segment is replaced;
- `tracin_info = {exclusion_date, negative_occurrences, average_influence,
  affected_test_samples, criterion, rule, threshold, suggested_angle?, misfit?,
  harmful_pairs?, self_influence?, tracin_run, generate_stamp, list_file}`. Scores are on the
  standardised scale of the influence files (robust z); `suggested_angle` is where the
  recording's score lands among the angles (`exclusion.misfit`), `rule` the part of the
  criterion that listed it. `tracin_run` is the fingerprint of the compute run the numbers
  come from (a later compute restamps the record's own `tracin_run`, not this one);
  `generate_stamp` and `list_file` name the generate run and the list (`datasets.stamps`):
  every `tracin_info` of the file carries the stamp of the last generate run that wrote it.

A recording excluded by an earlier run (`excluded: true` with a `tracin_info`) that is no
longer selected (nor kept on the list by hand) goes back to `excluded: false`, its note saying why, and its `tracin_info`
keeps the old numbers plus `reincluded_date`. A recording set `excluded: true` by hand
(without `tracin_info`) is left alone. When a recording is selected again with the same
numbers its record is not touched (same date, same note), so a re-run with the same inputs
changes nothing. Every other key survives.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from datasets.sample_id import SampleId
from exclusion.config import ExclusionConfig
from exclusion.criteria import (
    MISFIT,
    PAIRS,
    PROFILE,
    RECORDINGS,
    SELF_INFLUENCE,
    USES_CONSIDER_BOTH,
    USES_TRACIN_THRESHOLD,
)
from exclusion.rules import Exclusion, Selection
from influence.config import DEFAULT_THRESHOLD
from influence.records import InfluenceRun
from utils.constants import (
    K_AFFECTED,
    K_ANGLE,
    K_AVG_INFLUENCE,
    K_CRITERION,
    K_EXCLUDED,
    K_EXCLUSION_DATE,
    K_FREQUENCY,
    K_GENERATE_STAMP,
    K_HARMFUL_PAIRS,
    K_ID,
    K_INFO_SELF_INFLUENCE,
    K_LIST_FILE,
    K_MATERIAL,
    K_MISFIT,
    K_NEG_OCCURRENCES,
    K_NOTES,
    K_P_WRONG,
    K_REINCLUDED_DATE,
    K_RULE,
    K_SEQ,
    K_SUGGESTED_ANGLE,
    K_SUGGESTION_P,
    K_THRESHOLD,
    K_TRACIN_INFO,
    K_TRACIN_RUN,
)

log = logging.getLogger(__name__)

NOTE_EXCLUDED = "Excluded by TracIn"
NOTE_REINCLUDED = "No longer excluded by TracIn"
NOTE_SEPARATOR = " | "
BOOKKEEPING = (K_EXCLUSION_DATE, K_REINCLUDED_DATE, K_TRACIN_RUN, K_GENERATE_STAMP, K_LIST_FILE)
"""tracin_info keys that say when and by which runs, not what was found: a re-run with the same numbers keeps the record."""


def reason(exclusion: Exclusion, selection: Selection, n_validation_pairs: int) -> str:
    """Why the rule listed one recording, in words (the review sheet and --verbose): each clause quotes
    the number of the criterion it names (`Exclusion.numbers`), and TracIn says how the take hurts."""
    e, n = exclusion, exclusion.numbers
    parts = []
    if PROFILE in e.rules:
        parts.append(_profile_clause(e))
    if PAIRS in e.rules or (e.harmful_pairs and PAIRS in n):
        said = "" if PAIRS in e.rules else "TracIn: "
        threshold = selection.threshold if selection.threshold is not None else DEFAULT_THRESHOLD
        parts.append(f"{said}in {e.harmful_pairs} harmful training pair(s) (below {threshold:g} on at least "
                     f"{selection.min_occurrences} of {n_validation_pairs} validation pairs; {n[PAIRS]:.1f} robust SD more than "
                     "a typical recording)")
    if MISFIT in e.rules:
        parts.append(f"its ranker score lands among the {e.ranker_angle:g} degree recordings (misfit "
                     f"{n[MISFIT]:.1f} robust SD)")
    if RECORDINGS in e.rules:
        parts.append(f"its own influence is below {selection.threshold:g} on {e.negative_occurrences} validation "
                     f"pairs ({n[RECORDINGS]:.1f} robust SD more than typical)")
    if SELF_INFLUENCE in e.rules:
        parts.append(f"self-influence {e.self_influence:.4g} above the outlier cut {selection.cut:.4g} "
                     f"({n[SELF_INFLUENCE]:.1f} robust SD)")
    return "; ".join(parts)


def _profile_clause(e: Exclusion) -> str:
    """The harmonic profile's verdict on a take, with its probabilities."""
    if e.p_broken is not None and e.p_broken >= 0.5:
        return f"its harmonic profile fits no angle (broken take, p={e.p_broken:.2f}): listen, then exclude"
    text = f"its harmonic profile says its stored angle is wrong (p={e.p_wrong:.2f})"
    if e.suggested_angle is not None and e.suggestion_probability is not None:
        text += f"; it was most likely recorded at {e.suggested_angle:g} degrees (p={e.suggestion_probability:.2f}, " + (
            "its harmonic profile alone" if e.ranker_angle is None else
            f"its harmonic profile with its ranker score, which lands among the {e.ranker_angle:g} degree recordings") + ")"
    else:
        text += "; no angle is sure enough to suggest"
    return text


def describe_rule(criterion: str, threshold: float | None) -> str:
    """`criterion=pairs, threshold=-3.0` (no threshold for self-influence)."""
    return f"criterion={criterion}" + ("" if threshold is None else f", threshold={threshold:g}")


def tracin_info_for(
    exclusion: Exclusion, criterion: str, threshold: float | None, date: str, val_pair_ids: Sequence[str],
    run: str | None = None,
) -> dict[str, Any]:
    """The `tracin_info` record of one excluded recording (JSON-ready); `run`: the compute run's fingerprint."""
    info: dict[str, Any] = {
        K_EXCLUSION_DATE: date,
        K_NEG_OCCURRENCES: int(exclusion.negative_occurrences),
        K_AVG_INFLUENCE: float(exclusion.average_influence),
        K_AFFECTED: sorted(val_pair_ids[q] for q in exclusion.affected.tolist()),
        K_CRITERION: criterion,
    }
    if threshold is not None:
        info[K_THRESHOLD] = float(threshold)
    info[K_RULE] = exclusion.rule
    if exclusion.suggested_angle is not None:
        info[K_SUGGESTED_ANGLE] = int(round(exclusion.suggested_angle))
    if exclusion.suggestion_probability is not None:
        info[K_SUGGESTION_P] = round(float(exclusion.suggestion_probability), 4)
    if exclusion.p_wrong is not None:
        info[K_P_WRONG] = round(float(exclusion.p_wrong), 4)
    if exclusion.misfit is not None:
        info[K_MISFIT] = round(float(exclusion.misfit), 6)
    if exclusion.harmful_pairs is not None:
        info[K_HARMFUL_PAIRS] = int(exclusion.harmful_pairs)
    if exclusion.self_influence is not None:
        info[K_INFO_SELF_INFLUENCE] = float(exclusion.self_influence)
    if run:
        info[K_TRACIN_RUN] = run
    return info


def exclusion_note(exclusion: Exclusion, criterion: str, threshold: float | None, date: str) -> str:
    """The `notes` segment of an excluded recording."""
    text = (
        f"{NOTE_EXCLUDED} ({describe_rule(criterion, threshold)}) on {date}: "
        f"{exclusion.negative_occurrences} negative occurrences, average influence {exclusion.average_influence:.4g}"
    )
    if exclusion.suggested_angle is not None:
        text += f", suggested angle {exclusion.suggested_angle:g}"
    return text


def merge_note(old: Any, segment: str) -> str:
    """Replace the TracIn segment of `notes`, keeping what a person wrote."""
    parts = [p.strip() for p in ("" if old is None else str(old)).split(NOTE_SEPARATOR)]
    kept = [p for p in parts if p and not p.startswith((NOTE_EXCLUDED, NOTE_REINCLUDED))]
    return NOTE_SEPARATOR.join(kept + [segment])


def base_fields(sample_id: str) -> dict[str, Any]:
    """id, angle, material, frequency, seq_num parsed from a sample id (empty if it does not parse)."""
    sid = SampleId.match(sample_id)
    if sid is None:
        return {K_ID: sample_id}
    return {K_ID: sample_id, K_ANGLE: sid.angle, K_MATERIAL: sid.material, K_FREQUENCY: sid.frequency, K_SEQ: sid.seq}


def _same_numbers(old: Any, new: Mapping[str, Any]) -> bool:
    if not isinstance(old, dict):
        return False
    return {k: v for k, v in old.items() if k not in BOOKKEEPING} == {k: v for k, v in new.items() if k not in BOOKKEEPING}


@dataclass
class MetadataUpdate:
    """Sample ids by what `apply_to_metadata` did to their records."""

    newly_excluded: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    reincluded: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)


def apply_to_metadata(
    records: dict[str, dict[str, Any]],
    selection: Selection,
    val_pair_ids: Sequence[str],
    date: str,
    commented_out: Iterable[str] = (),
    list_name: str = "the exclusions file",
    kept_by_hand: Iterable[str] = (),
    run: str | None = None,
) -> MetadataUpdate:
    """Update `records` (sample id -> record, in place) for `selection`; see the module docstring.
    `kept_by_hand`: ids a person keeps on the list, left as they are; `run`: the compute run's fingerprint."""
    result = MetadataUpdate()
    selected = set(selection.ids) | set(kept_by_hand)
    for exc in selection.exclusions:
        sid = exc.sample_id
        info = tracin_info_for(exc, selection.criterion, selection.threshold, date, val_pair_ids, run)
        if sid not in records:
            result.created.append(sid)
            log.warning("sample %s is not in the sample metadata; adding a record for it", sid)
        record = records.setdefault(sid, {})
        for key, value in base_fields(sid).items():
            record.setdefault(key, value)
        if record.get(K_EXCLUDED) is True and _same_numbers(record.get(K_TRACIN_INFO), info):
            if run:
                record[K_TRACIN_INFO][K_TRACIN_RUN] = run  # the same numbers from another compute run
            result.unchanged.append(sid)
            continue
        (result.updated if record.get(K_EXCLUDED) is True else result.newly_excluded).append(sid)
        record[K_EXCLUDED] = True
        record[K_NOTES] = merge_note(record.get(K_NOTES), exclusion_note(exc, selection.criterion, selection.threshold, date))
        record[K_TRACIN_INFO] = info

    commented = set(commented_out)
    for sid, record in records.items():
        if sid in selected or not isinstance(record, dict):
            continue
        info = record.get(K_TRACIN_INFO)
        if record.get(K_EXCLUDED) is not True or not isinstance(info, dict):
            continue  # never excluded by TracIn, or excluded by hand
        if sid in commented:
            reason = f"commented out by hand in {list_name}"
        else:
            reason = f"not selected by {describe_rule(selection.criterion, selection.threshold)}"
        since = info.get(K_EXCLUSION_DATE)
        record[K_EXCLUDED] = False
        record[K_NOTES] = merge_note(
            record.get(K_NOTES),
            f"{NOTE_REINCLUDED} on {date}: {reason}" + (f" (excluded since {since})" if since else ""),
        )
        info[K_REINCLUDED_DATE] = date
        result.reincluded.append(sid)
    return result


def stamp_records(records: Mapping[str, Any], stamp: str, list_file: Path) -> None:
    """Give every record's `tracin_info` the generate run's stamp and the list it wrote (`datasets.stamps`)."""
    for record in records.values():
        info = record.get(K_TRACIN_INFO) if isinstance(record, dict) else None
        if isinstance(info, dict):
            info[K_GENERATE_STAMP] = stamp
            info[K_LIST_FILE] = str(Path(list_file).resolve())


def decisions(records: Mapping[str, Any]) -> dict[str, Any]:
    """What the metadata says of the exclusions, the generate stamp aside: what that stamp covers."""
    out = {}
    for sid, record in records.items():
        info = record.get(K_TRACIN_INFO) if isinstance(record, dict) else None
        if isinstance(info, dict):
            out[sid] = {"excluded": record.get(K_EXCLUDED), "notes": record.get(K_NOTES),
                        "info": {k: v for k, v in info.items() if k not in (K_GENERATE_STAMP, K_LIST_FILE)}}
    return out


def run_info_lines(info: InfluenceRun) -> list[str]:
    """A few `run ...` lines saying where the scores came from: fingerprint, seed, checkpoints, loss, data.

    The full configuration stays in the influence run file; a list a person reads gets
    only what identifies the run.
    """
    def quoted(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    lines = []
    if info.fingerprint:
        lines.append(f"run fingerprint: {info.fingerprint}")
    if info.seed is not None:
        lines.append(f"run seed: {quoted(info.seed)}")
    if info.config is not None:
        lines.append(f"run checkpoint folder: {quoted(str(info.config.checkpoint_dir))}")
    if info.checkpoints:
        lines.append("run epochs (learning rate): " + ", ".join(
            f"{c.epoch} ({c.eta:.3g})" if c.eta is not None else str(c.epoch) for c in info.checkpoints))
    if info.loss_type:
        lines.append(f"run loss: {info.loss_type} {quoted(info.loss_config)}")
    if info.measurement:
        lines.append(f"run measurement: {info.measurement}; scores are robust z among comparable training items")
    if info.run_config is not None:
        for name, value in (("data root", info.run_config.data_root), ("exclusions file", info.run_config.exclusions_file)):
            if value:
                lines.append(f"run {name}: {quoted(str(value))}")
    return [line.replace("\n", " ").replace("\r", " ") for line in lines]


def expected_false_line(selection: Selection) -> str:
    """How many of the listed recordings are expected to be fine, and what that rests on."""
    if selection.expected_false is None:
        return "expected false listings: not estimated"
    if selection.criterion == PROFILE:
        return (f"expected false listings: {selection.expected_false:.1f} (the sum of 1 - p over the listed takes, p the "
                "harmonic profile's probability of a wrong label or a broken take)")
    cut = "" if selection.cut is None or selection.criterion == SELF_INFLUENCE else f" (cut at robust z {selection.cut:.2f})"
    return (f"expected false listings: {selection.expected_false:.2f}{cut} if a fine recording's robust z were standard "
            "normal; a bound, since the cut accounts for how many recordings were tested")


def cut_lines(selection: Selection) -> list[str]:
    """What the cut gave: how many qualified and were listed (and how many more the cap left out), the harmonic
    profiles' estimated share of wrong labels, and the expected false listings. The list header and the review
    sheet both state them."""
    what = "harmful training pairs" if selection.criterion == PAIRS else "qualifying recordings"
    lines = [f"result: {selection.qualifying} {what}, {len(selection.exclusions)} recordings listed"
             + (f"; {selection.capped} more qualified but did not fit under max-exclusions" if selection.capped else "")]
    if selection.verdicts is not None:
        v = selection.verdicts
        lines.append(f"harmonic profiles: {v.eps:.1%} of the labels estimated wrong, {v.delta:.1%} of the takes broken")
    return lines + [expected_false_line(selection)]


def header_lines(cfg: ExclusionConfig, selection: Selection, info: InfluenceRun) -> list[str]:
    """The `# ` header of the list (after the date line): source, every parameter, the run."""
    criterion = selection.criterion
    # A criterion with its own cut does not read these flags: say so rather than imply a parameter acted.
    unused = "" if criterion in USES_TRACIN_THRESHOLD else (
        " (not used for the cut; TracIn's explanation of each take uses it)" if criterion == PROFILE else " (not used)")
    lines = [
        f"source: {json.dumps(str(cfg.metadata_file.resolve()), ensure_ascii=False)}",
        f"criterion: {criterion}",
        f"threshold: {cfg.threshold:g} (robust z){unused}",
        f"min-occurrences: {cfg.min_occurrences}{unused}",
        f"max-exclusions: {cfg.max_exclusions}",
        f"consider-both-samples: {'yes' if cfg.consider_both_samples else 'no'}"
        + ("" if criterion in USES_CONSIDER_BOTH else " (not used)"),
        *cut_lines(selection),
    ]
    lines += run_info_lines(info)
    lines.append("One sample id per line, most harmful first; the '# tracin:' line above an id says which rule listed it,")
    lines.append("with its numbers and suggested angle. Comment an id out to keep it in training on re-runs; an id")
    lines.append("line you add (without a '# tracin:' line) stays listed; your comment lines stay where you put them.")
    return [f"# {line}" for line in lines]
