"""Generate stamps: the list, its relabel file and the sample metadata that one generate run wrote carry one stamp.

generate_tracin_exclusions.py writes a list, the relabel file beside it and (with
--update-metadata) the sample metadata as one change (`utils.backups.write_together`), and
stamps all three with the same 16 hex digits, a digest of what it decided:

- the list: `# generate stamp: <stamp> (...)` in its header, which also says whether the
  sample metadata is part of the set and which file it is;
- the relabel file: `# generate stamp: <stamp>` in its header;
- the sample metadata: `generate_stamp` and `list_file` (the list's absolute path) in every
  record's `tracin_info`.

A kill between two renames is finished by the next writer (`utils.staging.recover_staging`);
until then the files disagree, and `check_one_generate_run` (train.py, before any work)
refuses them in one line. Files written before stamps existed carry none: a generated file
without a stamp beside a stamped one is a mix too; two files without stamps are not checked.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from datasets.exclusions import LIST_FIRST_LINE
from utils.atomic_io import read_json
from utils.constants import K_GENERATE_STAMP, K_LIST_FILE, K_TRACIN_INFO, RELABEL_SUFFIX

STAMP_LINE = "# generate stamp: "
RELABEL_FIRST_LINE = "# Suggested angles for recordings on "
"""The first line of a relabel file generate_tracin_exclusions.py wrote."""
METADATA_MEMBER = "the sample metadata "
_STAMP_RE = re.compile(rf"^{re.escape(STAMP_LINE)}([0-9a-f]{{16}})\b(.*)$")


@dataclass(frozen=True)
class FileStamp:
    """What a generated file says of its generate run: its stamp ('' for a file written before stamps)
    and, for a list, the sample metadata written with it (None: not part of its set)."""

    path: Path
    stamp: str
    metadata: Path | None = None


def list_stamp_line(stamp: str, metadata: Path | None) -> str:
    """The list header's stamp line, naming the other files of the set."""
    others = "the relabel file beside this list" + (f" and {METADATA_MEMBER}{json.dumps(str(metadata), ensure_ascii=False)}"
                                                     if metadata is not None else "")
    return f"{STAMP_LINE}{stamp} ({others} carry it too)"


def read_stamp(path: Path) -> FileStamp | None:
    """The stamp of a list or relabel file that generate wrote; None for a missing file or one a person wrote."""
    if not path.is_file():
        return None
    try:
        lines = [line.strip() for line in path.read_bytes().decode("utf-8").lstrip("\ufeff").splitlines()]
    except (OSError, UnicodeDecodeError):
        return None
    if not lines or not lines[0].startswith((LIST_FIRST_LINE, RELABEL_FIRST_LINE)):
        return None
    for line in lines:
        m = _STAMP_RE.match(line)
        if m:
            return FileStamp(path, m.group(1), _metadata_named(m.group(2)))
    return FileStamp(path, "")


def _metadata_named(rest: str) -> Path | None:
    at = rest.find(METADATA_MEMBER)
    if at < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(rest[at + len(METADATA_MEMBER):])
    except ValueError:
        return None
    return Path(value) if isinstance(value, str) else None


def relabel_file_for(list_file: Path) -> Path:
    """`x.txt` -> `x_relabel.txt`: where generate writes a list's relabel file."""
    return list_file.with_name(list_file.stem + RELABEL_SUFFIX)


def list_file_for(relabel_file: Path) -> Path | None:
    """`x_relabel.txt` -> `x.txt`, the list a relabel file was written beside; None for another name."""
    name = relabel_file.name
    return relabel_file.with_name(name[: -len(RELABEL_SUFFIX)] + ".txt") if name.endswith(RELABEL_SUFFIX) else None


def metadata_stamps(records: dict, list_file: Path) -> set[str]:
    """The generate stamps the sample metadata records give the list `list_file`."""
    target = str(Path(list_file).resolve())
    found = set()
    for record in records.values():
        info = record.get(K_TRACIN_INFO) if isinstance(record, dict) else None
        if isinstance(info, dict) and info.get(K_LIST_FILE) == target and isinstance(info.get(K_GENERATE_STAMP), str):
            found.add(info[K_GENERATE_STAMP])
    return found


def _describe(stamp: FileStamp) -> str:
    return f"generate run {stamp.stamp}" if stamp.stamp else "an earlier version (no generate stamp)"


def set_disagreement(list_file: Path) -> str | None:
    """What in the set of `list_file` comes from another generate run (one line), None when it is one run."""
    listed = read_stamp(list_file)
    if listed is None:
        return None
    relabel = read_stamp(relabel_file_for(list_file))
    if relabel is not None and relabel.stamp != listed.stamp and (relabel.stamp or listed.stamp):
        return f"the relabel file {relabel.path} is from {_describe(relabel)}, but the list {list_file} is from {_describe(listed)}"
    if listed.stamp and listed.metadata is not None and listed.metadata.is_file():
        records = read_json(listed.metadata, "sample metadata file")
        others = metadata_stamps(records if isinstance(records, dict) else {}, list_file) - {listed.stamp}
        if others:
            return (f"the sample metadata {listed.metadata} says the list {list_file} is from generate run "
                    f"{', '.join(sorted(others))}, but the list is from generate run {listed.stamp}")
    return None


def check_one_generate_run(exclusions_file: Path | None = None, relabel_file: Path | None = None) -> None:
    """Refuse, in one line, a list or relabel file whose set (list, relabel file, sample metadata) was
    written by more than one generate run: what an interrupted generate_tracin_exclusions.py leaves."""
    lists = [Path(exclusions_file)] if exclusions_file is not None else []
    if relabel_file is not None and list_file_for(Path(relabel_file)) is not None:
        lists.append(list_file_for(Path(relabel_file)))
    for list_file in dict.fromkeys(lists):
        problem = set_disagreement(list_file)
        if problem:
            raise ValueError(f"{problem}: an interrupted generate_tracin_exclusions.py left them apart; run it again"
                             " (the same command) to write them together")
