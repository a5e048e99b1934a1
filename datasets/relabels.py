"""Relabel files: recordings a person decided were recorded at another angle than their folder says.

generate_tracin_exclusions.py writes its suggestions beside the list
(`<list stem>_relabel.txt`); train.py uses them only with `--relabel-file`. One recording
per line, `<sample id> <angle>`, `#` comments and blank lines allowed:

    plastic_deg036_500hz_04  144  # stored 36; pairs+misfit

A relabelled recording keeps its place in the train / validation / holdout split (the
split is drawn from the stored angles, so a retrain is judged on the same holdout); every
pair it is in is ranked by the new angle.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from datasets.exclusions import describe_unknown_ids
from utils.constants import RELABEL_SUFFIX


def relabel_path_for(list_file: Path) -> Path:
    """The relabel file beside a list: `x_tracin_exclusions.txt` -> `x_tracin_exclusions_relabel.txt`."""
    list_file = Path(list_file)
    return list_file.with_name(list_file.stem + RELABEL_SUFFIX)


def commented_out_lines(text: str) -> dict[str, str]:
    """Lines a person commented out in a relabel file (`# <sample id> <angle> ...`), by id."""
    out = {}
    for raw in text.splitlines():
        fields = raw.strip().lstrip("#").split()
        if raw.lstrip().startswith("#") and len(fields) >= 2 and fields[1].lstrip("-").isdigit():
            out[fields[0]] = raw.rstrip()
    return out


def render_relabels(entries: Iterable[tuple[str, float, float, str]], list_name: str, previous: str | None = None) -> str:
    """The text of a relabel file from (sample id, suggested angle, stored angle, rule) entries.

    `previous`: the file's current text; a line commented out there stays as the person left it.
    """
    keep_out = commented_out_lines(previous) if previous else {}
    lines = [
        f"# Suggested angles for recordings on {list_name}, where their scores land among the angles.",
        "# Nothing is relabelled unless you pass this file: train.py --relabel-file <this file>.",
        "# Comment out a line ('# <id> ...') to keep that recording's stored angle: it stays commented out",
        "# when generate_tracin_exclusions.py rewrites this file, which keeps the previous one as a dated backup.",
    ]
    for sid, angle, stored, rule in entries:
        lines.append(keep_out.get(sid, f"{sid}  {angle:g}  # stored {stored:g}; {rule}"))
    return "\n".join(lines) + "\n"


def load_relabels(path: str | Path) -> dict[str, int]:
    """sample id -> angle from a relabel file; a malformed line is a ValueError naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"relabel file not found: {path}")
    try:
        text = path.read_bytes().decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        raise ValueError(f"relabel file {path} is not UTF-8 text") from None
    out: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        fields = raw.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
            raise ValueError(f"relabel file {path}, line {number}: expected '<sample id> <angle>', got {raw.strip()!r}")
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
