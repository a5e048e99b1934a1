"""Dated backups that never replace one another, and files replaced together with their backups.

A backup of `list.txt` is `list.txt.YYYYmmdd-HHMMSS.bak` (`-2`, `-3`... when one of that
second exists); `prune_backups` keeps the newest few. `write_together` writes several files
as one change (`utils.staging`): the backups of the files it replaces first, then the files;
when anything fails, nothing at all has changed.
"""
from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

from utils.staging import StagedFiles

log = logging.getLogger(__name__)

KEEP_BACKUPS = 5


def _backup_re(path: Path) -> re.Pattern:
    return re.compile(rf"^{re.escape(path.name)}\.(\d{{8}}-\d{{6}})(?:-(\d+))?\.bak$")


def list_backups(path: str | Path) -> list[Path]:
    """The dated backups of `path`, oldest first."""
    path = Path(path)
    pattern = _backup_re(path)
    found = []
    if path.parent.is_dir():
        for entry in path.parent.iterdir():
            m = pattern.match(entry.name)
            if m and entry.is_file():
                found.append(((m.group(1), int(m.group(2) or 1)), entry))
    return [entry for _, entry in sorted(found)]


def new_backup_path(path: str | Path, now: datetime | None = None) -> Path:
    """A backup name for `path` that sorts after every backup it has (and that no file has yet)."""
    path = Path(path)
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    pattern = _backup_re(path)
    used = [int(m.group(2) or 1) for b in list_backups(path) if (m := pattern.match(b.name)) and m.group(1) >= stamp]
    n = max(used, default=0) + 1
    candidate = path.with_name(f"{path.name}.{stamp}.bak" if n == 1 else f"{path.name}.{stamp}-{n}.bak")
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.{stamp}-{n}.bak")
    return candidate


def prune_backups(path: str | Path, keep: int = KEEP_BACKUPS) -> list[Path]:
    """Delete all but the newest `keep` dated backups of `path`; return the ones deleted."""
    old = list_backups(path)[:-keep] if keep > 0 else list_backups(path)
    removed = []
    for entry in old:
        try:
            entry.unlink()
            removed.append(entry)
        except OSError as exc:
            log.warning("could not remove the old backup %s: %s", entry, exc.strerror)
    return removed


@dataclass
class Output:
    """A file to write: `write(tmp)` writes its new contents to the path it is given; with
    `backup`, the file it replaces (if any) is kept as a dated backup."""

    path: Path
    write: Callable[[Path], None]
    backup: bool = False


def write_together(outputs: list[Output], keep: int = KEEP_BACKUPS) -> dict[Path, Path]:
    """Write `outputs` as one change; return {path: its new backup}.

    Every target folder is checked first (a staging folder is made in each), then the
    backups and the files are written under staging names, then all are renamed into place
    (backups first) with SIGINT / SIGTERM deferred. Backups beyond the newest `keep` are
    pruned afterwards.
    """
    backups: dict[Path, Path] = {}
    with StagedFiles() as staged:
        staged.reserve([out.path for out in outputs])  # an unwritable folder is named by the file meant for it
        steps: list[tuple[Path, Callable[[Path], None]]] = []
        for out in outputs:
            if out.backup and Path(out.path).is_file():
                backups[Path(out.path)] = new_backup_path(out.path)
                steps.append((staged.path(backups[Path(out.path)]), lambda tmp, src=Path(out.path): shutil.copy2(src, tmp)))
        for out in outputs:
            steps.append((staged.path(out.path), out.write))
        for tmp, write in steps:
            write(tmp)
        staged.commit()
    for path in backups:
        prune_backups(path, keep)
    return backups
