"""Dated backups that never replace one another, and files replaced together with their backups.

A backup of `list.txt` is `list.txt.YYYYmmdd-HHMMSS.bak` (`-2`, `-3`... when one of that
second exists); `prune_backups` keeps the newest few. `write_together` writes several files
as one change (`utils.staging`): the backups of the files it replaces first, then the files;
when anything fails (a full disk included), nothing at all has changed, and a kill between
two renames is finished by the next writer (`utils.staging.recover_staging`).

Any file joins such a change as one `Output`: `Output.of_text(path, text)` or
`Output.of_bytes(path, data)` (its size is then known, so the free space is checked before
anything is written), or `Output(path, write)` with a function that writes a given path.
"""
from __future__ import annotations

import errno
import logging
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

from utils.atomic_io import write_bytes_atomic
from utils.staging import DiskFull, StagedFiles, check_free_space, describe_bytes, free_bytes

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
    `backup`, the file it replaces (if any) is kept as a dated backup. `size`: the bytes it
    will write, when known (`of_text`, `of_bytes`), for the free-space check."""

    path: Path
    write: Callable[[Path], None]
    backup: bool = False
    size: int | None = None
    data: bytes | None = None

    @classmethod
    def of_bytes(cls, path: str | Path, data: bytes, backup: bool = False) -> Output:
        """An output whose contents are `data`."""
        return cls(Path(path), lambda tmp: write_bytes_atomic(tmp, data), backup, len(data), data)

    def same_as_on_disk(self) -> bool:
        """Whether the file already holds exactly these contents (known only for `of_bytes` / `of_text`)."""
        path = Path(self.path)
        return self.data is not None and path.is_file() and path.stat().st_size == len(self.data) \
            and path.read_bytes() == self.data

    @classmethod
    def of_text(cls, path: str | Path, text: str, backup: bool = False) -> Output:
        """An output whose contents are `text`, UTF-8."""
        return cls.of_bytes(path, text.encode("utf-8"), backup)


def _expected_size(out: Output) -> int:
    """`out.size`, else the size of the file it replaces (the best guess there is)."""
    if out.size is not None:
        return out.size
    return Path(out.path).stat().st_size if Path(out.path).is_file() else 0


def write_together(outputs: list[Output], keep: int = KEEP_BACKUPS) -> dict[Path, Path]:
    """Write `outputs` as one change; return {path: its new backup}.

    Every target folder is checked first (a staging folder is made in each), then the free
    space (the outputs and the backups, refused in one line naming them), then the backups
    and the files are written under staging names (a full disk meanwhile is one line naming
    the file), then all are renamed into place (backups first) with SIGINT / SIGTERM deferred.
    Backups beyond the newest `keep` are pruned afterwards.
    """
    backups: dict[Path, Path] = {}
    with StagedFiles() as staged:
        staged.reserve([out.path for out in outputs])  # an unwritable folder is named by the file meant for it
        steps: list[tuple[Path, Path, Callable[[Path], None]]] = []
        sizes: list[tuple[Path, int]] = []
        for out in outputs:
            if out.backup and Path(out.path).is_file():
                backups[Path(out.path)] = new_backup_path(out.path)
                steps.append((backups[Path(out.path)], staged.path(backups[Path(out.path)]),
                              lambda tmp, src=Path(out.path): shutil.copy2(src, tmp)))
                sizes.append((backups[Path(out.path)], Path(out.path).stat().st_size))
        for out in outputs:
            steps.append((Path(out.path), staged.path(out.path), out.write))
            sizes.append((Path(out.path), _expected_size(out)))
        check_free_space(sizes)
        free = {path.parent: free_bytes(path.parent)[0] for path, _ in sizes}
        for final, tmp, write in steps:
            _write_staged(final, tmp, write, sizes, free[final.parent])
        staged.commit()
    for path in backups:
        prune_backups(path, keep)
    return backups


def _write_staged(final: Path, tmp: Path, write: Callable[[Path], None], sizes: list[tuple[Path, int]],
                  free: int) -> None:
    """`write(tmp)`; a full disk is one line naming `final` and what the change needs in its folder
    (`free`: the bytes that were free there before the first write)."""
    try:
        write(tmp)
    except OSError as exc:
        if isinstance(exc, DiskFull) or exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        need = sum(size for path, size in sizes if path.parent == final.parent)
        raise DiskFull(f"no space left on the device for {final}: the new files in {final.parent} need about "
                       f"{describe_bytes(need)}, and {describe_bytes(free)} was free; "
                       "nothing was changed") from None
