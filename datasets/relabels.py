"""Relabel files: recordings a person decided were recorded at another angle than their folder says.

generate_tracin_exclusions.py writes its suggestions beside the list
(`<list stem>_relabel.txt`); train.py uses them only with `--relabel-file`. One recording
per line, `<sample id> <angle>`, `#` comments and blank lines allowed; an id may appear once:

    plastic_deg036_500hz_04  144  # tracin: suggested 144; stored 36; pairs+misfit

The tool's comment repeats the angle it suggested, so a person's change shows: a line whose
angle differs from its `tracin: suggested A` is a hand edit, and so is a line without the
tool's comment (added by hand) and a line commented out (`# <id> <angle> ...`). On re-runs
`render_relabels` keeps every hand edit as the person left it and reports each one.

A relabelled recording keeps its place in the train / validation / holdout split (the
split is drawn from the stored angles, so a retrain is judged on the same holdout); every
pair it is in is ranked by the new angle.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from datasets.exclusions import describe_unknown_ids
from datasets.sample_id import id_key
from datasets.stamps import RELABEL_FIRST_LINE, STAMP_LINE, relabel_file_for

relabel_path_for = relabel_file_for
"""The relabel file beside a list: `x_tracin_exclusions.txt` -> `x_tracin_exclusions_relabel.txt`."""

_TOOL_COMMENT_RE = re.compile(r"#\s*tracin:\s*suggested\s+(-?\d+)\b")
_LEGACY_COMMENT_RE = re.compile(r"#\s*stored\s+-?\d+;")  # what versions before the marker wrote


HEADER_LINES = (
    "# Nothing is relabelled unless you pass this file: train.py --relabel-file <this file>.",
    "# Comment out a line ('# <id> ...') to keep that recording's stored angle, change its angle, or add",
    "# '<id> <angle>' lines: generate_tracin_exclusions.py keeps each such edit when it rewrites this file",
    "# (the previous one kept as a dated backup), and says so.",
)
_EARLIER_HEADER_LINES = (
    "# Comment out a line ('# <id> ...') to keep that recording's stored angle: it stays commented out",
    "# when generate_tracin_exclusions.py rewrites this file, which keeps the previous one as a dated backup.",
)
CHANGED, ADDED, COMMENTED_OUT = "changed by hand", "added by hand", "commented out by hand"


def _commented_out(raw: str) -> str | None:
    """The id of a line a person commented out (`# <sample id> <angle> ...`), else None."""
    fields = raw.strip().lstrip("#").split()
    if raw.lstrip().startswith("#") and len(fields) >= 2 and fields[1].lstrip("-").isdigit() \
            and id_key(fields[0]) is not None:
        return fields[0]
    return None


def commented_out_lines(text: str) -> dict[str, str]:
    """Lines a person commented out in a relabel file (`# <sample id> <angle> ...`), by id."""
    out = {}
    for raw in text.splitlines():
        sid = _commented_out(raw)
        if sid is not None:
            out.setdefault(sid, raw.rstrip())
    return out


def _entry(line: str) -> tuple[str, int] | None:
    fields = line.split("#", 1)[0].split()
    return (fields[0], int(fields[1])) if len(fields) == 2 and fields[1].lstrip("-").isdigit() else None


def _is_tool_comment(line: str) -> bool:
    return line.startswith((RELABEL_FIRST_LINE, STAMP_LINE)) or line in HEADER_LINES or line in _EARLIER_HEADER_LINES


@dataclass
class RelabelEdits:
    """A person's lines in a relabel file: id -> (what they did, the line as they left it), and other comments."""

    lines: dict[str, tuple[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def hand_edits(text: str) -> RelabelEdits:
    """The hand edits of a relabel file generate wrote (module docstring); the tool's own lines are left out."""
    edits = RelabelEdits({sid: (COMMENTED_OUT, line) for sid, line in commented_out_lines(text).items()})
    for raw in text.lstrip("\ufeff").splitlines():
        line = raw.strip()
        entry = _entry(line)
        if line.startswith("#"):
            if not _is_tool_comment(line) and _commented_out(line) is None:
                edits.notes.append(raw.rstrip())
        elif entry is not None and entry[0] not in edits.lines:
            tool = _TOOL_COMMENT_RE.search(line)
            if tool is not None and int(tool.group(1)) != entry[1]:
                edits.lines[entry[0]] = (CHANGED, raw.rstrip())
            elif tool is None and not _LEGACY_COMMENT_RE.search(line):
                edits.lines[entry[0]] = (ADDED, raw.rstrip())
    return edits


@dataclass(frozen=True)
class KeptEdit:
    """A hand edit `render_relabels` kept: the id, what was done, and what the tool suggests now (None: nothing)."""

    sample_id: str
    kind: str
    suggested: float | None


@dataclass
class RelabelPlan:
    """The new text of a relabel file and the hand edits it kept (`render_relabels`)."""

    text: str
    kept: list[KeptEdit] = field(default_factory=list)


def tool_line(sample_id: str, angle: float, stored: float, note: str) -> str:
    """One suggestion as the tool writes it; the comment repeats the angle, so that a changed angle shows."""
    return f"{sample_id}  {angle:g}  # tracin: suggested {angle:g}; stored {stored:g}; {note}"


def render_relabels(entries: Iterable[tuple[str, float, float, str]], list_name: str, previous: str | None = None,
                    stamp: str | None = None) -> RelabelPlan:
    """The relabel file for (sample id, suggested angle, stored angle, note) entries, keeping every hand
    edit of `previous` (the file's current text) as the person left it, the tool's line for that id
    aside; a person's lines for ids the tool no longer suggests follow the tool's."""
    edits = hand_edits(previous) if previous else RelabelEdits()
    lines = [f"{RELABEL_FIRST_LINE}{list_name} whose stored angle the evidence says is wrong, each with how sure it is."]
    lines += [f"{STAMP_LINE}{stamp}"] if stamp is not None else []
    lines += HEADER_LINES
    suggested = {}
    for sid, angle, stored, note in entries:
        suggested[sid] = angle
        lines.append(edits.lines[sid][1] if sid in edits.lines else tool_line(sid, angle, stored, note))
    lines += [line for sid, (_, line) in edits.lines.items() if sid not in suggested]
    kept = [KeptEdit(sid, kind, suggested.get(sid)) for sid, (kind, _) in edits.lines.items()]
    return RelabelPlan("\n".join(lines + edits.notes) + "\n", kept)


def read_relabel_text(path: str | Path) -> str:
    """The text of a relabel file; a missing file or a folder is an error naming it."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"relabel file {path} is a folder: name the relabel file in it")
    if not path.is_file():
        raise FileNotFoundError(f"relabel file not found: {path}")
    try:
        return path.read_bytes().decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        raise ValueError(f"relabel file {path} is not UTF-8 text") from None


def load_relabels(path: str | Path) -> dict[str, int]:
    """sample id -> angle from a relabel file; a malformed line, or an id named twice, is a ValueError naming it."""
    out: dict[str, int] = {}
    first_line: dict[str, int] = {}
    for number, raw in enumerate(read_relabel_text(path).splitlines(), 1):
        fields = raw.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
            raise ValueError(f"relabel file {path}, line {number}: expected '<sample id> <angle>', got {raw.strip()!r}")
        if fields[0] in first_line:
            raise ValueError(f"relabel file {path} names {fields[0]} twice (lines {first_line[fields[0]]} and {number}):"
                             " keep one line per recording")
        first_line[fields[0]] = number
        out[fields[0]] = int(fields[1])
    return out


def check_relabels(relabels: dict[str, int], known: dict[str, float], path: str | Path) -> None:
    """Every id must be a recording, and every angle one the data set has."""
    unknown = [sid for sid in relabels if sid not in known]
    if unknown:
        raise ValueError(f"relabel file {path} names unknown id(s): "
                         + ", ".join(describe_unknown_ids(unknown, list(known))))
    angles = sorted(set(known.values()))
    odd = {sid: a for sid, a in relabels.items() if a not in angles}
    if odd:
        sid, angle = next(iter(odd.items()))
        raise ValueError(f"relabel file {path}: {sid} -> {angle} degrees, but the recordings' angles are "
                         f"{', '.join(f'{a:g}' for a in angles)}")
