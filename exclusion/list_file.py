"""Rewriting an exclusion list without losing a hand edit.

The old file is copied to `<name>.bak` first, ids commented out by hand stay commented out,
comment lines and trailing `# ...` comments a person wrote are carried over, and the caller
reports which ids were added and removed. Parsing a list is `datasets.exclusions`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from datasets.exclusions import ExclusionList, load_exclusions
from utils.atomic_io import backup_file, write_text_atomic
from utils.constants import SAMPLE_ID_RE

log = logging.getLogger(__name__)

DATE_LINE_PREFIX = "# TracIn exclusion list, written "
HEADER_END = "# " + "-" * 70
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


def find_hand_edits(text: str) -> HandEdits:
    """Comment lines below the generated header (`HEADER_END`) that are not commented-out ids or
    section titles, and `id  # comment` trailing comments. A file without the generated header
    (written by hand) contributes all its comment lines."""
    lines = text.lstrip("\ufeff").splitlines()
    stripped = [line.strip() for line in lines]
    start = stripped.index(HEADER_END) + 1 if HEADER_END in stripped else 0
    edits = HandEdits()
    for line in stripped[start:]:
        if not line or line in (COMMENTED_OUT_HEADER, NOTES_HEADER):
            continue
        if line.startswith("#"):
            if not SAMPLE_ID_RE.match(line.lstrip("#").strip()) and line not in edits.notes:
                edits.notes.append(line)
            continue
        entry, sep, comment = line.partition("#")
        if sep and entry.strip() and comment.strip():
            edits.trailing.setdefault(entry.strip(), comment.strip())
    return edits


def render_exclusion_file(
    date_line: str,
    header: Iterable[str],
    ids: Iterable[str],
    commented_out: Iterable[str] = (),
    hand_edits: HandEdits | None = None,
) -> str:
    """The text of a list: date line, `# ` header lines, `HEADER_END`, one id per line, then the
    commented-out ids and the notes a person wrote (`hand_edits`).

    Header lines must not look like a commented-out id (`# plastic_deg036_500hz_04`): that
    would keep the id out of every later run, so such a line is a ValueError. Quote values.
    """
    edits = hand_edits or HandEdits()
    lines = [date_line if date_line.startswith("#") else f"# {date_line}"]
    for line in header:
        text = line if line.startswith("#") else f"# {line}"
        if SAMPLE_ID_RE.match(text.lstrip("#").strip()):
            raise ValueError(f"header line {text!r} would read as a commented-out sample id")
        lines.append(text)
    lines.append(HEADER_END)
    lines.extend(f"{sid}  # {edits.trailing[sid]}" if sid in edits.trailing else sid for sid in ids)
    commented = list(commented_out)
    if commented:
        lines.append(COMMENTED_OUT_HEADER)
        lines.extend(f"# {sid}" for sid in commented)
    if edits.notes:
        lines.append(NOTES_HEADER)
        lines.extend(edits.notes)
    return "\n".join(lines) + "\n"


def _without_date_line(text: str) -> list[str]:
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    return [line for line in text.split("\n") if not line.startswith(DATE_LINE_PREFIX)]


def update_exclusion_file(
    path: str | Path,
    header: Iterable[str],
    ids: Iterable[str],
    date: str,
) -> ExclusionFileUpdate:
    """Write the list `ids` to `path` (atomically), keeping the hand edits of the old file.

    Ids commented out in the old file stay commented out (and are dropped from `ids`);
    comment lines and trailing `# ...` comments a person wrote are carried over. The file
    is not rewritten when only its date line would change. Before a rewrite the old file
    is copied to `<path>.bak`; ids that were listed and are no longer are reported in
    `removed` (they remain in the backup).
    """
    path = Path(path)
    existed = path.is_file()
    old = load_exclusions(path) if existed else ExclusionList()
    old_text = path.read_bytes().decode("utf-8") if existed else ""
    edits = find_hand_edits(old_text)
    commented = list(old.commented_out)
    blocked = set(commented)
    new_ids = [sid for sid in dict.fromkeys(ids) if sid not in blocked]
    text = render_exclusion_file(f"{DATE_LINE_PREFIX}{date}", header, new_ids, commented, edits)
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
    if existed:
        if _without_date_line(old_text) == _without_date_line(text):
            return update
        update.backup = backup_file(path)
    write_text_atomic(path, text)
    update.written = True
    log.debug("wrote %s (%d ids)", path, len(new_ids))
    return update
