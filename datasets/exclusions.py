"""The exclusion list: a text file a person reads and edits, one sample id per line.

Tolerated: `#` comments (whole-line or trailing), blank lines, surrounding spaces, CRLF
line ends, a UTF-8 byte-order mark, and duplicates (collapsed, first order kept). A comment
line whose first word is a sample id (`# plastic_deg036_500hz_04`, or with a note after it:
`# plastic_deg036_500hz_04  listened: fine`) marks an id the user deliberately commented
out; tools that rewrite the list keep it out (`exclusion.list_file`). Such ids match the
recordings' ids without regard to case or zero padding (`id_key`).
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from utils.constants import LIST_DATA_ROOT_LINE


@dataclass
class ExclusionList:
    ids: list[str] = field(default_factory=list)
    commented_out: list[str] = field(default_factory=list)


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


def load_exclusions(path: str | Path) -> ExclusionList:
    """Read and parse an exclusion file; a missing file is an error, never silently ignored."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"exclusions file not found: {path}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"exclusions file {path} is not UTF-8 text") from None
    return parse_exclusions(text)


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


_LOOSE_ID_RE = re.compile(r"^(?P<material>.+)_deg(?P<angle>\d+)_(?P<frequency>\d+hz)_(?P<seq>\d+)$", re.IGNORECASE)


def id_key(text: str) -> tuple[str, int, str, int] | None:
    """What two spellings of one sample id share (case and zero padding aside); None for a non-id."""
    loose = _LOOSE_ID_RE.match(text.strip())
    if loose is None:
        return None
    return (loose["material"].lower(), int(loose["angle"]), loose["frequency"].lower(), int(loose["seq"]))


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
