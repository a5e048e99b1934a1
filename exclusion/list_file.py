"""Rewriting an exclusion list without losing a hand edit.

The old file is kept as a dated backup (`<name>.YYYYmmdd-HHMMSS.bak`, the newest 5 kept;
`utils.backups`), ids commented out by hand stay commented out (matched without regard to
case or zero padding, a note after the id kept), comment lines and trailing `# ...`
comments a person wrote are carried over, and the caller reports which ids were added and
removed. `plan_exclusion_file` only decides the new text, so that the caller can write it
together with other files. Parsing a list is `datasets.exclusions`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from datasets.exclusions import ExclusionList, commented_out_id, id_key, load_exclusions
from utils.atomic_io import write_text_atomic
from utils.backups import Output, write_together

log = logging.getLogger(__name__)

DATE_LINE_PREFIX = "# TracIn exclusion list, written "
HEADER_END = "# " + "-" * 70
GENERATED_NOTE = "tracin:"
"""Starts the comment the tool writes after a listed id (rule, suggested angle); it is not a hand edit."""
COMMENTED_OUT_HEADER = "# Commented out by hand (kept out on re-runs; delete the line to let the rule decide again):"
NOTES_HEADER = "# Notes kept from the previous version of this file:"


@dataclass
class ExclusionFileUpdate:
    """What `update_exclusion_file` did: the ids added / removed against the old list."""

    path: Path
    written: bool
    backup: Path | None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    commented_out: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    existed: bool = False


@dataclass
class HandEdits:
    """What a person added to a generated list: comment lines, and trailing comments on id lines."""

    notes: list[str] = field(default_factory=list)
    trailing: dict[str, str] = field(default_factory=dict)
    commented_notes: dict[str, str] = field(default_factory=dict)
    """Notes after a commented-out id (`# <id>  listened: fine`), by the id as written."""


def find_hand_edits(text: str) -> HandEdits:
    """Comment lines below the generated header (`HEADER_END`) that are not commented-out ids or
    section titles, `id  # comment` trailing comments, and the notes after commented-out ids.
    A file without the generated header (written by hand) contributes all its comment lines."""
    lines = text.lstrip("\ufeff").splitlines()
    stripped = [line.strip() for line in lines]
    start = stripped.index(HEADER_END) + 1 if HEADER_END in stripped else 0
    edits = HandEdits()
    for line in stripped[start:]:
        if not line or line in (COMMENTED_OUT_HEADER, NOTES_HEADER):
            continue
        if line.startswith("#"):
            commented = commented_out_id(line)
            if commented is not None:
                if commented[1]:
                    edits.commented_notes.setdefault(commented[0], commented[1])
            elif line not in edits.notes:
                edits.notes.append(line)
            continue
        entry, sep, comment = line.partition("#")
        comment = comment.split(GENERATED_NOTE, 1)[0].strip().rstrip("|").strip()
        if sep and entry.strip() and comment:
            edits.trailing.setdefault(entry.strip(), comment)
    return edits


def _id_line(sid: str, hand: str | None, generated: str | None) -> str:
    notes = [n for n in (hand, f"{GENERATED_NOTE} {generated}" if generated else None) if n]
    return f"{sid}  # {' | '.join(notes)}" if notes else sid


def render_exclusion_file(
    date_line: str,
    header: Iterable[str],
    ids: Iterable[str],
    commented_out: Iterable[str] = (),
    hand_edits: HandEdits | None = None,
    generated: Mapping[str, str] | None = None,
) -> str:
    """The text of a list: date line, `# ` header lines, `HEADER_END`, one id per line (with a
    person's trailing comment and the tool's `tracin: ...` note from `generated`), then the
    commented-out ids and the notes a person wrote (`hand_edits`).

    Header lines must not look like a commented-out id (`# plastic_deg036_500hz_04 ...`): that
    would keep the id out of every later run, so such a line is a ValueError. Quote values.
    """
    edits = hand_edits or HandEdits()
    lines = [date_line if date_line.startswith("#") else f"# {date_line}"]
    for line in header:
        text = line if line.startswith("#") else f"# {line}"
        if commented_out_id(text) is not None:
            raise ValueError(f"header line {text!r} would read as a commented-out sample id")
        lines.append(text)
    lines.append(HEADER_END)
    notes = generated or {}
    lines.extend(_id_line(sid, edits.trailing.get(sid), notes.get(sid)) for sid in ids)
    commented = list(commented_out)
    if commented:
        lines.append(COMMENTED_OUT_HEADER)
        lines.extend(f"# {sid}  {edits.commented_notes[sid]}" if edits.commented_notes.get(sid) else f"# {sid}"
                     for sid in commented)
    if edits.notes:
        lines.append(NOTES_HEADER)
        lines.extend(edits.notes)
    return "\n".join(lines) + "\n"


def _without_date_line(text: str) -> list[str]:
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    return [line for line in text.split("\n") if not line.startswith(DATE_LINE_PREFIX)]


@dataclass
class ExclusionFilePlan:
    """The new text of a list (None: only its date line would change, so it is not rewritten)
    and what changes against the old list."""

    update: ExclusionFileUpdate
    text: str | None


def plan_exclusion_file(
    path: str | Path,
    header: Iterable[str],
    ids: Iterable[str],
    date: str,
    generated: Mapping[str, str] | None = None,
) -> ExclusionFilePlan:
    """The list `ids` as it would be written to `path`, keeping the hand edits of the old file.

    Ids commented out in the old file stay commented out (and are dropped from `ids`, case
    and zero padding aside); comment lines and trailing `# ...` comments a person wrote are
    carried over. Ids that were listed and are no longer are reported in `removed`.
    """
    path = Path(path)
    existed = path.is_file()
    old = load_exclusions(path) if existed else ExclusionList()
    old_text = path.read_bytes().decode("utf-8") if existed else ""
    edits = find_hand_edits(old_text)
    commented = list(old.commented_out)
    blocked = {id_key(sid) for sid in commented}
    new_ids = [sid for sid in dict.fromkeys(ids) if (id_key(sid) or sid) not in blocked]
    text = render_exclusion_file(f"{DATE_LINE_PREFIX}{date}", header, new_ids, commented, edits, generated)
    old_set, new_set = set(old.ids), set(new_ids)
    update = ExclusionFileUpdate(
        path=path,
        written=False,
        backup=None,
        added=[sid for sid in new_ids if sid not in old_set],
        removed=[sid for sid in old.ids if sid not in new_set],
        commented_out=commented,
        notes=list(edits.notes),
        existed=existed,
    )
    unchanged = existed and _without_date_line(old_text) == _without_date_line(text)
    return ExclusionFilePlan(update, None if unchanged else text)


def list_output(plan: ExclusionFilePlan) -> Output:
    """The list as an output of `utils.backups.write_together` (the old list kept as a dated backup)."""
    return Output(plan.update.path, lambda tmp: write_text_atomic(tmp, plan.text), backup=True)


def update_exclusion_file(
    path: str | Path,
    header: Iterable[str],
    ids: Iterable[str],
    date: str,
) -> ExclusionFileUpdate:
    """`plan_exclusion_file`, then write it (atomically, the old file kept as a dated backup)."""
    plan = plan_exclusion_file(path, header, ids, date)
    if plan.text is not None:
        plan.update.backup = write_together([list_output(plan)]).get(plan.update.path)
        plan.update.written = True
        log.debug("wrote %s", plan.update.path)
    return plan.update
