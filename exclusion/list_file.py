"""Rewriting an exclusion list without losing a hand edit, in the tutorial's format.

The list is one bare sample id per line; the tool's note on an id is the `# tracin: ...`
line directly above it, and a person's comment lines on an id sit there too (the format:
`datasets.exclusions`). On every rewrite:

- the old file is kept as a dated backup (`<name>.YYYYmmdd-HHMMSS.bak`, the newest 5 kept;
  `utils.backups`);
- ids commented out by hand stay commented out (matched without regard to case or zero
  padding), with their notes;
- ids a person added (an id line without a `# tracin:` note above it) stay listed, with
  their comments, after the tool's ids;
- comment lines a person wrote are carried over: on an id, with that id (at the end, naming
  the id, once the tool no longer lists it); elsewhere, at the end;
- the caller reports which ids were added, removed, and kept by hand.

`plan_exclusion_file` only decides the new text, so that the caller can write it together
with other files. Parsing a list is `datasets.exclusions`; the note's words are the caller's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from datasets.exclusions import (
    COMMENTED_OUT_TITLE,
    HEADER_END,
    LIST_FIRST_LINE,
    TOOL_NOTE,
    CommentedId,
    ListedId,
    ListLayout,
    commented_out_id,
    read_layout,
    read_list_text,
)
from datasets.exclusions import NOTES_TITLE as NOTES_HEADER
from datasets.sample_id import id_key
from utils.backups import Output

DATE_LINE_PREFIX = LIST_FIRST_LINE
COMMENTED_OUT_HEADER = COMMENTED_OUT_TITLE
GENERATED_NOTE = TOOL_NOTE
DEFAULT_NOTE = "listed"
"""The tool's note on an id it lists without one (every listed id carries a note: it marks the tool's ids)."""

__all__ = ["COMMENTED_OUT_HEADER", "DATE_LINE_PREFIX", "GENERATED_NOTE", "HEADER_END", "NOTES_HEADER",
           "ExclusionFilePlan", "ExclusionFileUpdate", "list_output", "plan_exclusion_file", "render_exclusion_file"]


@dataclass
class ExclusionFileUpdate:
    """What rewriting the list does (`plan_exclusion_file`): the ids added / removed against the old list, and the
    hand edits kept; `written` and `backup` once it is written (`exclusion.outputs`)."""

    path: Path
    written: bool
    backup: Path | None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    commented_out: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    existed: bool = False
    kept_by_hand: list[str] = field(default_factory=list)
    """Ids a person added to the list (no `# tracin:` note), kept listed."""


def _safe_note(line: str) -> str:
    """A person's comment as a comment line that cannot read as a commented-out id or as the tool's note."""
    text = line if line.startswith("#") else f"# {line}"
    body = text.lstrip("#").strip()
    return f"# note: {body}" if commented_out_id(text) is not None or body.startswith(TOOL_NOTE) else text


def _id_block(entry: ListedId, tool_note: str | None) -> list[str]:
    """The lines of one listed id: the tool's note (when the tool lists it), a person's comment lines, the id."""
    lines = [f"# {TOOL_NOTE} {tool_note or DEFAULT_NOTE}"] if tool_note is not None else []
    return lines + [_safe_note(n) for n in entry.notes] + [entry.sample_id]


def _header_lines(date_line: str, header: Iterable[str], stamp_line: str | None) -> list[str]:
    lines = [date_line if date_line.startswith("#") else f"# {date_line}"]
    for line in [*header, *([stamp_line] if stamp_line else [])]:
        text = line if line.startswith("#") else f"# {line}"
        if commented_out_id(text) is not None:
            raise ValueError(f"header line {text!r} would read as a commented-out sample id")
        lines.append(text)
    return lines + [HEADER_END]


def render_exclusion_file(
    date_line: str,
    header: Iterable[str],
    ids: Iterable[str],
    commented_out: Iterable[CommentedId | str] = (),
    layout: ListLayout | None = None,
    generated: Mapping[str, str] | None = None,
    kept: Iterable[ListedId] = (),
    stamp_line: str | None = None,
) -> str:
    """The text of a list: date line, `# ` header lines (`stamp_line` last), `HEADER_END`; then per
    listed id its `# tracin:` note (from `generated`), a person's comment lines on it (from the old
    `layout`) and the bare id; then the ids a person added (`kept`), the commented-out ids with
    their notes, and the person's other comment lines.

    Header lines must not look like a commented-out id (`# plastic_deg036_500hz_04 ...`): that
    would keep the id out of every later run, so such a line is a ValueError. Quote values.
    """
    old = {entry.sample_id: entry for entry in (layout.listed if layout else [])}
    notes = generated or {}
    lines = _header_lines(date_line, header, stamp_line)
    for sid in ids:
        lines += _id_block(old.get(sid, ListedId(sid)), notes.get(sid, DEFAULT_NOTE))
    for entry in kept:
        lines += _id_block(entry, None)
    commented = [c if isinstance(c, CommentedId) else CommentedId(c) for c in commented_out]
    if commented:
        lines.append(COMMENTED_OUT_HEADER)
        for c in commented:
            lines += [_safe_note(n) for n in c.notes] + [f"# {c.sample_id}  {c.note}" if c.note else f"# {c.sample_id}"]
    if layout is not None and layout.notes:
        lines.append(NOTES_HEADER)
        lines.extend(_safe_note(n) for n in layout.notes)
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
    listed: list[str] = field(default_factory=list)
    """The ids the new list holds, in order: the tool's, then those a person added."""


def _kept_by_hand(layout: ListLayout, tool_ids: list[str], blocked: set) -> list[ListedId]:
    """Ids a person added (no tool note) that the tool does not list now, once each, in their order."""
    taken = {id_key(sid) or sid for sid in tool_ids} | blocked
    kept = []
    for entry in layout.listed:
        key = id_key(entry.sample_id) or entry.sample_id
        if entry.tool_note is None and key not in taken:
            kept.append(entry)
            taken.add(key)
    return kept


def _keep_notes_of_dropped(layout: ListLayout, tool_ids: list[str]) -> None:
    """A person's comments on an id the tool no longer lists join the notes at the end, naming the id."""
    listed = {id_key(sid) or sid for sid in tool_ids}
    for entry in layout.listed:
        if entry.tool_note is not None and (id_key(entry.sample_id) or entry.sample_id) not in listed:
            layout.notes += [f"# (on {entry.sample_id}, no longer listed) {note.lstrip('#').strip()}" for note in entry.notes]


def plan_exclusion_file(
    path: str | Path,
    header: Iterable[str],
    ids: Iterable[str],
    date: str,
    generated: Mapping[str, str] | None = None,
    stamp_line: str | None = None,
) -> ExclusionFilePlan:
    """The list `ids` as it would be written to `path`, keeping the hand edits of the old file.

    Ids commented out in the old file stay commented out (and are dropped from `ids`, case
    and zero padding aside); ids a person added stay listed; comment lines a person wrote are
    carried over. Ids the tool listed and no longer does are reported in `removed`.
    """
    path = Path(path)
    existed = path.is_file()
    old_text = read_list_text(path) if existed else ""
    layout = read_layout(old_text)
    listed_keys = {id_key(e.sample_id) or e.sample_id for e in layout.listed}
    commented = {}
    for c in layout.commented:  # one per id; an id also listed is listed
        if (id_key(c.sample_id) or c.sample_id) not in listed_keys:
            commented.setdefault(id_key(c.sample_id), c)
    blocked = set(commented)
    new_ids = [sid for sid in dict.fromkeys(ids) if (id_key(sid) or sid) not in blocked]
    kept = _kept_by_hand(layout, new_ids, blocked)
    _keep_notes_of_dropped(layout, new_ids)
    parts = (header, new_ids, list(commented.values()), layout, generated, kept)
    text = render_exclusion_file(f"{DATE_LINE_PREFIX}{date}", *parts, stamp_line=stamp_line)
    old_ids = [e.sample_id for e in layout.listed]
    new_set = set(new_ids) | {e.sample_id for e in kept}
    update = ExclusionFileUpdate(
        path=path, written=False, backup=None,
        added=[sid for sid in new_ids if sid not in set(old_ids)],
        removed=[sid for sid in dict.fromkeys(old_ids) if sid not in new_set],
        commented_out=[c.sample_id for c in commented.values()],
        notes=list(layout.notes), existed=existed, kept_by_hand=[e.sample_id for e in kept],
    )
    unchanged = existed and _without_date_line(old_text) == _without_date_line(text)
    return ExclusionFilePlan(update, None if unchanged else text, new_ids + update.kept_by_hand)


def list_output(plan: ExclusionFilePlan) -> Output:
    """The list as an output of `utils.backups.write_together` (the old list kept as a dated backup)."""
    return Output.of_text(plan.update.path, plan.text, backup=True)

