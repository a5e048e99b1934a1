"""One writer at a time per folder: an `fcntl.flock` on a lock file that names its holder.

    with folder_lock(folder, timeout=10):
        ...  # write into folder

The lock file (`constants.LOCK_FILE`, `.sinetone.lock`) exists while a process holds the
lock and records its pid, command line and start time; it is removed on release. A second
writer waits up to `timeout` seconds (saying so once), then fails with one line naming the
holder (`FolderBusy`, an OSError, so scripts print it as one `error:` line). The lock dies
with its process: a killed writer never leaves a folder locked. A folder where no lock file
can be created (missing, or not writable) cannot be written either; the lock is then
skipped, and a write there fails with its own message.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import math
import os
import shlex
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Iterator

from utils.constants import LOCK_FILE

log = logging.getLogger(__name__)

DEFAULT_LOCK_TIMEOUT = 10.0
"""Seconds a second writer waits for a folder (`--lock-timeout`)."""
POLL_SECONDS = 0.1


def check_lock_timeout(seconds: float) -> float:
    """`--lock-timeout`, as every script's config checks it: a finite number of seconds, at least 0."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"--lock-timeout must be a finite number at least 0, got {seconds!r}")
    return float(seconds)


class FolderBusy(OSError):
    """Another process holds the folder's lock (the message names it)."""


def current_command() -> str:
    """This process's command line, as one line."""
    return " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name if sys.argv else "python", *sys.argv[1:]])


def describe_holder(path: Path) -> str:
    """`pid 123, \"train.py ...\", since 2026-01-01T12:00:00` from a lock file (best effort)."""
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "another process"
    return f"pid {info['pid']} ({info.get('command', '?')}, since {info.get('started', '?')})"


def _open_locked(path: Path) -> int | None:
    """An fd holding the exclusive lock on `path`, None while another holds it. Raises OSError
    when the lock file cannot be opened."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    # The file may have been moved away (a run folder renamed by --overwrite) between open and lock.
    try:
        same = os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        same = False
    if not same:
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def folder_lock(folder: str | Path, timeout: float = DEFAULT_LOCK_TIMEOUT, command: str | None = None) -> Iterator[Path]:
    """Hold the lock of `folder` (which must exist) for the body; see the module docstring."""
    folder = Path(folder)
    path = folder / LOCK_FILE
    deadline = time.monotonic() + max(timeout, 0.0)
    said = False
    while True:
        try:
            fd = _open_locked(path)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR):
                raise
            log.debug("no lock in %s (%s): nothing can be written there", folder, exc.strerror)
            fd = -1
        if fd is not None:
            break
        if time.monotonic() >= deadline:
            raise FolderBusy(
                f"{folder} is being written by {describe_holder(path)}; waited {timeout:g} s for it: try again when"
                f" it has finished, or pass a longer --lock-timeout (the lock file is {path})"
            )
        if not said:
            log.info("%s is being written by %s: waiting up to %g s", folder, describe_holder(path), timeout)
            said = True
        time.sleep(POLL_SECONDS)
    if fd < 0:
        yield path
        return
    try:
        holder = {"pid": os.getpid(), "command": command or current_command(),
                  "started": datetime.now().isoformat(timespec="seconds")}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(holder) + "\n").encode("utf-8"), 0)
        except OSError as exc:  # a full disk: the lock holds all the same, only its holder goes unnamed
            log.debug("could not name the holder in %s: %s", path, exc.strerror)
        yield path
    finally:
        # Removed while still held: a waiter that opened it meanwhile notices (`_open_locked`) and retries.
        with contextlib.suppress(OSError):
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                path.unlink()
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
