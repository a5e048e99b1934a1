"""Several files written as one change: after an error, a Ctrl-C or a kill, either all are new or all are old.

    with StagedFiles() as staged:
        write_json_atomic(staged.path(a), ...)     # each output goes to a hidden staging folder
        write_text_atomic(staged.path(b), ...)     # beside its target, under the target's name
        staged.commit()                            # then all are renamed into place, in this order

A write that fails leaves every target as it was (the staging folders are removed; folders
created for the outputs too). `commit` renames with SIGINT and SIGTERM held back
(`signals_deferred`), so a Ctrl-C arriving during the renames takes effect after the last
one (`InterruptedAfterCommit` then says that everything was written); a rename that fails
puts back the files already replaced.

A SIGKILL or a power cut between two renames cannot be held back, so a commit is journalled:
before the first rename, each staging folder gets a journal (`COMMIT_JOURNAL`: which staged
file goes where, and what each target was), and then one commit marker is created in the
first target folder (`.sinetone-commit-<pid>-...`): the moment the new set wins. The next
writer of a folder calls `recover_staging` (alias `remove_stale_staging`): a staging folder
left by a dead process is finished (its remaining files renamed into place) when its commit
marker exists, and removed otherwise. A target changed since the commit began (a person
edited it) is never overwritten: that file is left as it is, and the callers' stamps then
tell the mix.
"""
from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import re
import secrets
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Iterator, Sequence

log = logging.getLogger(__name__)

STAGING_PREFIX = ".sinetone-staging-"
COMMIT_PREFIX = ".sinetone-commit-"
COMMIT_JOURNAL = ".commit-journal.json"
DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_STAGING_RE = re.compile(rf"^{re.escape(STAGING_PREFIX)}(\d+)-")
_COMMIT_RE = re.compile(rf"^{re.escape(COMMIT_PREFIX)}(\d+)-")


class InterruptedAfterCommit(KeyboardInterrupt):
    """A Ctrl-C (or SIGTERM) that arrived while the files were renamed: it took effect after the last
    rename, so every new file is in place. The message says so."""


class DiskFull(OSError):
    """Not enough free space for the new files; the message names them and the space they need."""

    def __init__(self, message: str):
        super().__init__(message)
        self.errno = errno.ENOSPC

    def __str__(self) -> str:
        return str(self.args[0])


@contextlib.contextmanager
def signals_deferred(signals: tuple[int, ...] = DEFERRED_SIGNALS) -> Iterator[None]:
    """Hold `signals` back while the body runs; one that arrives is delivered when it ends.

    Uses `signal.pthread_sigmask` on the main thread (where Python handles signals); elsewhere,
    or where the platform has no signal masks, the body simply runs.
    """
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _replace(src: Path, dst: Path) -> None:
    """Every rename of a commit goes through here (tests interrupt between two of them)."""
    os.replace(src, dst)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(name: str, pattern: re.Pattern) -> bool:
    m = pattern.match(name)
    return bool(m) and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1)))


def _identity(path: Path) -> list[int] | None:
    """What a target was when the commit began (inode, size, modification time), None when absent."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def _read_journal(staging: Path) -> dict | None:
    try:
        journal = json.loads((staging / COMMIT_JOURNAL).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return journal if isinstance(journal, dict) and isinstance(journal.get("items"), list) else None


def _roll_forward(staging: Path, journal: dict) -> list[Path]:
    """Rename the files a killed commit had not renamed yet; skip a target someone changed since."""
    finished = []
    for name, final, before in journal["items"]:
        tmp, final = staging / name, Path(final)
        if not tmp.is_file():
            continue  # renamed before the kill
        if _identity(final) != before:
            log.warning("%s changed after an interrupted write began; it is left as it is, not replaced by %s",
                        final, tmp)
            continue
        with contextlib.suppress(FileNotFoundError):  # another process finished it meanwhile
            os.replace(tmp, final)
            finished.append(final)
    return finished


def recover_staging(folder: str | Path) -> list[Path]:
    """Finish or remove what dead processes left in `folder`; return the staging folders handled.

    A staging folder whose commit had begun (its commit marker exists) is finished: its files
    go where its journal says. One whose commit had not begun is removed: its targets were
    never touched. A commit marker is removed once none of its staging folders is left.
    """
    handled = []
    folder = Path(folder)
    if not folder.is_dir():
        return handled
    for entry in sorted(folder.iterdir()):
        if not (entry.is_dir() and _stale(entry.name, _STAGING_RE)):
            continue
        journal = _read_journal(entry)
        marker = Path(journal["marker"]) if journal is not None and isinstance(journal.get("marker"), str) else None
        if marker is not None and marker.is_file():
            finished = _roll_forward(entry, journal)
            if finished:
                log.warning("finished the write a killed process had begun: %s", ", ".join(str(p) for p in finished))
        shutil.rmtree(entry, ignore_errors=True)
        handled.append(entry)
        log.debug("removed %s, left by a process that was killed", entry)
        if marker is not None:
            _remove_if_spent(marker)
    for entry in folder.iterdir():
        if entry.is_file() and _stale(entry.name, _COMMIT_RE):
            _remove_if_spent(entry)
    return handled


remove_stale_staging = recover_staging  # its earlier name


def _remove_if_spent(marker: Path) -> None:
    """Remove a commit marker once none of the staging folders it names is left."""
    try:
        staging = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        staging = []
    if not any(Path(s).is_dir() for s in staging if isinstance(s, str)):
        marker.unlink(missing_ok=True)


def free_bytes(folder: Path) -> tuple[int, int]:
    """(bytes free to this user, block size) of the file system that holds `folder` (or its nearest parent)."""
    probe = Path(folder)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    st = os.statvfs(probe)
    return st.f_bavail * st.f_frsize, st.f_frsize or 4096


def describe_bytes(n: float) -> str:
    """`12 KB`, `3.4 MB`, `1.20 GB`."""
    if n >= 1e9:
        return f"{n / 1e9:.2f} GB"
    if n >= 1e6:
        return f"{n / 1e6:.1f} MB"
    return f"{max(n, 0) / 1e3:,.0f} KB"


def check_free_space(files: Sequence[tuple[Path, int]], extra_blocks: int = 3) -> None:
    """Refuse (`DiskFull`, one line naming the files) when the file systems of `files` (path, bytes)
    lack room for them, each rounded up to whole blocks, plus `extra_blocks` per file system
    (staging folders, journals, the commit marker)."""
    groups: dict[int, dict] = {}
    for path, size in files:
        folder = Path(path).parent
        free, block = free_bytes(folder)
        probe = folder if folder.exists() else next(p for p in folder.parents if p.exists())
        group = groups.setdefault(os.stat(probe).st_dev, {"folders": [], "free": free, "block": block,
                                                          "need": extra_blocks * block, "files": []})
        group["need"] += math.ceil(size / group["block"]) * group["block"]
        group["files"].append(Path(path))
        group["folders"] += [folder] if folder not in group["folders"] else []
    for group in groups.values():
        if group["need"] > group["free"]:
            raise DiskFull(f"not enough free space in {' and '.join(str(f) for f in group['folders'])} for "
                           f"{_some_names(group['files'])}: they need {describe_bytes(group['need'])}, and "
                           f"{describe_bytes(group['free'])} is free; nothing was changed")


def _some_names(files: list[Path], shown: int = 4) -> str:
    """`a.txt, b.json and 2 more, with 3 backup(s)`: the files first, the dated backups counted."""
    backups = [f for f in files if f.suffix == ".bak"]
    names = [f.name for f in files if f.suffix != ".bak"]
    text = ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")
    return text + (f", with {len(backups)} backup(s)" if backups else "")


class StagedFiles:
    """Outputs written under temporary names beside their targets, then renamed into place together."""

    def __init__(self) -> None:
        self._items: list[tuple[Path, Path]] = []
        self._staging: dict[Path, Path] = {}
        self._created: list[Path] = []
        self._marker: Path | None = None
        self.committed = False

    def __enter__(self) -> StagedFiles:
        return self

    def __exit__(self, *exc_info) -> None:
        if not self.committed:
            self.discard()

    @property
    def targets(self) -> list[Path]:
        return [final for _, final in self._items]

    def _make_folder(self, folder: Path) -> None:
        missing = []
        probe = folder
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        if not probe.is_dir():
            raise NotADirectoryError(f"cannot create folder {folder}: {probe} is a file")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PermissionError(f"cannot create folder {folder}: {exc.strerror}") from None
        if missing:
            self._created.append(missing[-1])

    def reserve(self, finals: list[str | Path]) -> None:
        """Check (by making its staging folder) that each of `finals` can be written, without registering it."""
        for final in finals:
            self._staging_folder(Path(final))

    def path(self, final: str | Path) -> Path:
        """Where to write the future `final`: a staging folder beside it, the same file name.
        Registers `final`; `commit` renames in the order of registration."""
        final = Path(final)
        if final in self.targets:
            raise ValueError(f"{final} is staged twice")
        tmp = self._staging_folder(final) / final.name
        self._items.append((tmp, final))
        return tmp

    def _staging_folder(self, final: Path) -> Path:
        if final.is_dir():
            raise IsADirectoryError(f"{final} is a folder, not a file")
        folder = final.parent
        if folder not in self._staging:
            if not folder.is_dir():
                self._make_folder(folder)
            try:
                self._staging[folder] = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=folder))
            except OSError as exc:
                raise PermissionError(
                    f"cannot write {final}: the folder {folder} is not writable ({exc.strerror}); nothing was changed"
                ) from None
        return self._staging[folder]

    def commit(self) -> None:
        """Rename every staged file over its target, in order, with SIGINT/SIGTERM deferred; journalled,
        so that the next writer finishes the renames a SIGKILL cut short (`recover_staging`)."""
        missing = [str(final) for tmp, final in self._items if not tmp.is_file()]
        if missing:
            raise RuntimeError(f"staged but never written: {', '.join(missing)}")
        try:
            with signals_deferred():
                self._journal()  # a failure here (a full disk) changes nothing: no target is touched yet
                previous = self._keep_previous()
                done: list[Path] = []
                try:
                    for tmp, final in self._items:
                        _replace(tmp, final)
                        done.append(final)
                except BaseException:
                    self._roll_back(done, previous)
                    raise
                finally:
                    self._remove_staging()
                self.committed = True
        except KeyboardInterrupt:
            if not self.committed:
                raise
            names = ", ".join(final.name for final in self.targets)
            raise InterruptedAfterCommit(f"after every file was written ({names}): the new set is complete") from None

    def _journal(self) -> None:
        """Each staging folder's journal, then the commit marker: from then on the new set wins."""
        if not self._items:
            return
        folders = sorted(str(s) for s in self._staging.values())
        marker = self._items[0][1].parent / f"{COMMIT_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
        for staging in self._staging.values():
            items = [[tmp.name, str(final), _identity(final)] for tmp, final in self._items if tmp.parent == staging]
            _write_synced(staging / COMMIT_JOURNAL, json.dumps({"marker": str(marker), "items": items}))
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._marker = marker
        try:
            os.write(fd, json.dumps(folders).encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def _keep_previous(self) -> dict[Path, Path]:
        """Hard links to the files about to be replaced, so that a failed rename can be undone."""
        previous = {}
        for tmp, final in self._items:
            if final.is_file():
                keep = tmp.with_name(tmp.name + ".previous")
                try:
                    os.link(final, keep)
                    previous[final] = keep
                except OSError:
                    pass  # no hard links here: that file cannot be put back
        return previous

    def _roll_back(self, done: list[Path], previous: dict[Path, Path]) -> None:
        self._drop_marker()  # the commit is off: a kill from here on must not finish it
        for final in reversed(done):
            try:
                if final in previous:
                    os.replace(previous[final], final)
                else:
                    final.unlink()
            except OSError as exc:
                log.error("could not restore %s after a failed write: %s", final, exc)

    def _remove_staging(self) -> None:
        for folder in self._staging.values():
            shutil.rmtree(folder, ignore_errors=True)
        self._staging.clear()
        self._drop_marker()

    def _drop_marker(self) -> None:
        if self._marker is not None:
            self._marker.unlink(missing_ok=True)
            self._marker = None

    def discard(self) -> None:
        """Remove everything written so far, and the folders created for it; the targets stay as they were."""
        self._remove_staging()
        for folder in reversed(self._created):
            with contextlib.suppress(OSError):
                for sub in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                    sub.rmdir()
                folder.rmdir()
        self._created.clear()
        self._items.clear()


def _write_synced(path: Path, text: str) -> None:
    """`text` into `path`, on disk before this returns (a journal must outlive a kill that follows)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
