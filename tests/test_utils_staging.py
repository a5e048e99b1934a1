"""Several files as one change: all new after a commit, all old after a failure; Ctrl-C waits for the renames."""
from __future__ import annotations

import os
import signal

import pytest

import utils.staging
from utils.atomic_io import write_text_atomic
from utils.staging import StagedFiles, remove_stale_staging, signals_deferred


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".sinetone-staging"))


def test_commit_renames_in_order_and_cleans_up(tmp_path):
    (tmp_path / "a.txt").write_text("old a")
    with StagedFiles() as staged:
        for name in ("a.txt", "sub/b.txt", "c.txt"):
            write_text_atomic(staged.path(tmp_path / name), f"new {name}")
        staged.commit()
    assert [(tmp_path / n).read_text() for n in ("a.txt", "sub/b.txt", "c.txt")] == ["new a.txt", "new sub/b.txt",
                                                                                        "new c.txt"]
    assert leftovers(tmp_path) == [] and leftovers(tmp_path / "sub") == []


def test_a_failed_write_changes_nothing(tmp_path):
    (tmp_path / "a.txt").write_text("old a")
    with pytest.raises(OSError, match="disk full"):
        with StagedFiles() as staged:
            write_text_atomic(staged.path(tmp_path / "a.txt"), "new a")
            staged.path(tmp_path / "new" / "deeper" / "b.txt")
            raise OSError("disk full")
    assert (tmp_path / "a.txt").read_text() == "old a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]  # the folders made for b.txt are gone too


def test_a_failed_rename_puts_the_replaced_files_back(tmp_path, monkeypatch):
    for name in ("a.txt", "b.txt", "c.txt"):
        (tmp_path / name).write_text(f"old {name}")
    calls = []
    real = utils.staging._replace

    def rename(src, dst):
        if len(calls) == 2:
            raise OSError("rename failed")
        real(src, dst)
        calls.append(dst)

    monkeypatch.setattr(utils.staging, "_replace", rename)
    with pytest.raises(OSError, match="rename failed"):
        with StagedFiles() as staged:
            for name in ("a.txt", "b.txt", "c.txt"):
                write_text_atomic(staged.path(tmp_path / name), "new")
            staged.commit()
    assert [(tmp_path / n).read_text() for n in ("a.txt", "b.txt", "c.txt")] == ["old a.txt", "old b.txt", "old c.txt"]
    assert leftovers(tmp_path) == []


def test_ctrl_c_during_the_deferred_section_arrives_after_it(ctrl_c_raises):
    done = []
    with pytest.raises(KeyboardInterrupt):
        with signals_deferred():
            signal.raise_signal(signal.SIGINT)
            done.append("still running")
    assert done == ["still running"]


def test_stale_staging_folders_of_dead_processes_are_removed(tmp_path):
    dead = tmp_path / ".sinetone-staging-999999999-abc"
    mine = tmp_path / f".sinetone-staging-{os.getpid()}-abc"
    for folder in (dead, mine):
        folder.mkdir()
        (folder / "x").write_text("x")
    assert remove_stale_staging(tmp_path) == [dead]
    assert not dead.exists() and mine.exists()


def test_a_folder_that_cannot_be_created_is_one_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="is a file"):
        with StagedFiles() as staged:
            staged.path(tmp_path / "file" / "x" / "y.txt")
