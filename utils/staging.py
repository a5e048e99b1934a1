"""Several files written as one change: after an error or a Ctrl-C, either all are new or all are old.

    with StagedFiles() as staged:
        write_json_atomic(staged.path(a), ...)     # each output goes to a hidden staging folder
        write_text_atomic(staged.path(b), ...)     # beside its target, under the target's name
        staged.commit()                            # then all are renamed into place, in this order

A write that fails leaves every target as it was (the staging folders are removed; folders
created for the outputs too). `commit` renames with SIGINT and SIGTERM held back
(`signals_deferred`), so a Ctrl-C arriving during the renames takes effect after the last
one; a rename that fails puts back the files already replaced. Only a SIGKILL or a power
cut between two renames can leave old and new files side by side: callers that care stamp
every file with a run fingerprint and check it when reading. A staging folder left by a
killed process is removed by `remove_stale_staging` (its process id is no longer alive).
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

STAGING_PREFIX = ".sinetone-staging-"
DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_STAGING_RE = re.compile(rf"^{re.escape(STAGING_PREFIX)}(\d+)-")


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


def remove_stale_staging(folder: str | Path) -> list[Path]:
    """Remove staging folders in `folder` left by processes that no longer run; return them."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        m = _STAGING_RE.match(entry.name)
        if m and entry.is_dir() and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
            log.debug("removed %s, left by a process that was killed", entry)
    return removed


class StagedFiles:
    """Outputs written under temporary names beside their targets, then renamed into place together."""

    def __init__(self) -> None:
        self._items: list[tuple[Path, Path]] = []
        self._staging: dict[Path, Path] = {}
        self._created: list[Path] = []
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
        """Rename every staged file over its target, in order, with SIGINT/SIGTERM deferred."""
        missing = [str(final) for tmp, final in self._items if not tmp.is_file()]
        if missing:
            raise RuntimeError(f"staged but never written: {', '.join(missing)}")
        with signals_deferred():
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
