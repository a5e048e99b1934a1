"""One writer at a time per folder: a second waits, then fails naming the holder; a lock dies with its process."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from utils.locking import FolderBusy, folder_lock


def test_a_second_writer_waits_then_names_the_holder(tmp_path):
    with folder_lock(tmp_path, command="train.py --frequency 500hz"):
        started = time.monotonic()
        with pytest.raises(FolderBusy) as exc:
            with folder_lock(tmp_path, timeout=0.3):
                pass
        assert time.monotonic() - started >= 0.3
    message = str(exc.value)
    assert str(tmp_path) in message and f"pid {os.getpid()}" in message and "train.py --frequency 500hz" in message
    assert "--lock-timeout" in message and "\n" not in message
    with folder_lock(tmp_path, timeout=0):  # free again
        pass


def test_the_lock_dies_with_its_process(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from utils.locking import folder_lock\n"
        "with folder_lock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(60)"), str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(FolderBusy, match=f"pid {holder.pid}"):
            with folder_lock(tmp_path, timeout=0.1):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with folder_lock(tmp_path, timeout=1):
        pass


def test_no_lock_where_nothing_can_be_written(tmp_path):
    with folder_lock(tmp_path / "missing"):
        pass
