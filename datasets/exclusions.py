"""The exclusion list: a text file a person reads and edits, one bare sample id per line.

generate_tracin_exclusions.py writes the tutorial's format: every id alone on its line, so
that the original tool's reader (`line.strip()`, skip empty lines and lines starting with
`#`) reads exactly the listed ids; the tool's note on an id is the `# tracin: ...` comment
line directly above it:

    # tracin: pairs+misfit; suggested angle 180
    plastic_deg108_500hz_05

Tolerated when reading: `#` comments (whole-line or trailing: `id  # note`, as earlier
versions wrote), blank lines, surrounding spaces, CRLF line ends, a UTF-8 byte-order mark,
and duplicates (collapsed, first order kept). A comment line whose first word is a sample id
(`# plastic_deg036_500hz_04`, or with a note after it: `# plastic_deg036_500hz_04  listened:
fine`) marks an id the user deliberately commented out; tools that rewrite the list keep it
out (`exclusion.list_file`). Such ids match the recordings' ids without regard to case or
zero padding (`id_key`). `read_layout` says, besides, which ids the tool listed (a `tracin:`
note) and which a person added, and which comment lines a person wrote where.
"""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from datasets.sample_id import id_key
from utils.constants import LIST_DATA_ROOT_LINE


LIST_FIRST_LINE = "# TracIn exclusion list, written "
"""The first line of a list generate_tracin_exclusions.py wrote (then the date)."""
HEADER_END = "# " + "-" * 70
"""The last line of a generated list's header."""
TOOL_NOTE = "tracin:"
"""Starts the tool's note on a listed id (`# tracin: <rule>; ...`); never a person's note or a commented-out id."""
COMMENTED_OUT_TITLE = "# Commented out by hand (kept out on re-runs; delete the line to let the rule decide again):"
NOTES_TITLE = "# Notes kept from the previous version of this file:"


@dataclass
class ExclusionList:
    ids: list[str] = field(default_factory=list)
    commented_out: list[str] = field(default_factory=list)


@dataclass
class ListedId:
    """An id line of a list: the tool's note on it (None: a person listed it) and a person's comment lines on it."""

    sample_id: str
    tool_note: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class CommentedId:
    """An id commented out by hand: as written, the note after it, and a person's comment lines above it."""

    sample_id: str
    note: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class ListLayout:
    """A list below its generated header, line by line: what the tool wrote and what a person did."""

    listed: list[ListedId] = field(default_factory=list)
    commented: list[CommentedId] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Comment lines of a person's that sit on no id (followed by a blank line, or at the end)."""


def commented_out_id(line: str) -> tuple[str, str] | None:
    """`(id as written, note)` when a comment line comments out a sample id: its first word is
    one (in any case, with or without zero padding); None otherwise."""
    line = line.strip()
    if not line.startswith("#"):
        return None
    first, _, note = line.lstrip("#").strip().partition(" ")
    return (first, note.strip()) if id_key(first) is not None else None


def parse_exclusions(text: str) -> ExclusionList:
    """Parse the text of an exclusion file (see module docstring)."""
    text = text.lstrip("\ufeff")
    ids: dict[str, None] = {}
    commented: dict[str, None] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            found = commented_out_id(line)
            if found:
                commented[found[0]] = None
            continue
        entry = line.split("#", 1)[0].strip()
        if entry:
            ids[entry] = None
    listed = {id_key(s) or s for s in ids}
    kept: dict[object, str] = {}
    for c in commented:
        kept.setdefault(id_key(c), c)
    return ExclusionList(ids=list(ids), commented_out=[c for k, c in kept.items() if k not in listed])


def _split_trailing(line: str) -> tuple[str, str | None, str]:
    """`id  # hand | tracin: note` (as earlier versions wrote) -> (id, the tool's note or None, the hand comment)."""
    entry, _, comment = line.partition("#")
    comment = comment.strip()
    tool = None
    if TOOL_NOTE in comment:
        comment, _, tool = comment.partition(TOOL_NOTE)
        comment, tool = comment.strip().rstrip("|").strip(), tool.strip()
    return entry.strip(), tool, comment


def read_layout(text: str) -> ListLayout:
    """Who wrote what in a list (module docstring), below its generated header (`HEADER_END`), or
    all of it when it has none. Comment lines directly above an id line (no blank line between)
    belong to that id: a `# tracin:` line is the tool's note, any other a person's."""
    lines = [line.strip() for line in text.lstrip("\ufeff").splitlines()]
    layout = ListLayout()
    pending: list[str] = []
    tool: str | None = None
    for line in lines[lines.index(HEADER_END) + 1:] if HEADER_END in lines else lines:
        body = line.lstrip("#").strip()
        if line.startswith("#") and body.startswith(TOOL_NOTE):
            tool = body[len(TOOL_NOTE):].strip()
        elif line.startswith("#") and line not in (COMMENTED_OUT_TITLE, NOTES_TITLE) and commented_out_id(line) is None:
            pending.append(line)
        elif line.startswith("#") and commented_out_id(line) is not None:
            sid, note = commented_out_id(line)
            layout.commented.append(CommentedId(sid, note, pending))
            pending, tool = [], None
        elif line and not line.startswith("#") and _split_trailing(line)[0]:
            sid, trailing_tool, comment = _split_trailing(line)
            notes = pending + ([f"# {comment}"] if comment else [])
            layout.listed.append(ListedId(sid, trailing_tool if trailing_tool is not None else tool, notes))
            pending, tool = [], None
        else:  # a blank line or a section title: what came before sits on no id
            layout.notes.extend(pending)
            pending, tool = [], None
    layout.notes.extend(pending)
    return layout


def read_list_text(path: str | Path) -> str:
    """The text of an exclusion file; a missing file or a folder is an error naming it, never silently ignored."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"exclusions file {path} is a folder: name the list file in it")
    if not path.is_file():
        raise FileNotFoundError(f"exclusions file not found: {path}")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"exclusions file {path} is not UTF-8 text") from None


def load_exclusions(path: str | Path) -> ExclusionList:
    """Read and parse an exclusion file; a missing file is an error, never silently ignored."""
    return parse_exclusions(read_list_text(path))


def tool_notes(path: str | Path) -> dict[str, str]:
    """sample id -> the tool's note on it (`# tracin: ...` above it, or after it in older lists), for listed ids."""
    return {entry.sample_id: entry.tool_note for entry in read_layout(read_list_text(path)).listed
            if entry.tool_note is not None}


def list_made_from(path: str | Path) -> Path | None:
    """The data root an exclusion list's header names (`# run data root: "..."`, written by
    generate_tracin_exclusions.py), whether or not it still exists; None when it names none."""
    load_exclusions(path)  # the same checks and errors as reading the ids
    for line in Path(path).read_text(encoding="utf-8").lstrip("\ufeff").splitlines():
        line = line.strip()
        if line.startswith(LIST_DATA_ROOT_LINE):
            try:
                value = json.loads(line[len(LIST_DATA_ROOT_LINE):])
            except json.JSONDecodeError:
                return None
            return Path(value) if isinstance(value, str) and value else None
    return None


def match_known_ids(ids: Iterable[str], known: Iterable[str]) -> list[str]:
    """Each of `ids` as spelled in `known` when one of them is the same id (case and zero padding
    aside), else as given."""
    by_key = {}
    for sid in known:
        by_key.setdefault(id_key(sid), sid)
    return [by_key.get(id_key(sid), sid) if id_key(sid) is not None else sid for sid in ids]


def closest_id(unknown: str, known: Iterable[str]) -> str | None:
    """The known id most similar to `unknown`, or None if nothing is close.

    An id typed without zero padding or in another case (`plastic_deg36_500Hz_4`) maps to
    its canonical form first; otherwise the highest difflib ratio wins.
    """
    known = list(known)
    same = match_known_ids([unknown], known)[0]
    if same in set(known):
        return same
    matches = difflib.get_close_matches(unknown, known, n=1, cutoff=0.6)
    return matches[0] if matches else None


def describe_unknown_ids(unknown: Iterable[str], known: Iterable[str]) -> list[str]:
    """One phrase per unknown id: `'x' (closest: 'y')`."""
    known = list(known)
    phrases = []
    for uid in unknown:
        near = closest_id(uid, known)
        phrases.append(f"'{uid}' (closest: '{near}')" if near else f"'{uid}' (no similar id)")
    return phrases
