"""README promise: generate's files change all together or not at all, even under kill -9.

A real SIGKILL at each rename of generate's commit (a forked copy of this process, killed by itself just
before rename k): the files left then are either one generate run's set, which the next step (train.py's
check) accepts, or a mix that it refuses in one line; and the next generate finishes the killed one's
write from its journal, leaving exactly the files an uninterrupted run writes, and no staging leftovers.
A Ctrl-C during the renames waits for the last one, and then says that every file was written.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
from pathlib import Path

import pytest

import generate_tracin_exclusions as gen
import train as train_script
import utils.staging
from datasets.stamps import check_one_generate_run, relabel_file_for

FIRST = ["--criterion", "misfit", "--update-metadata"]
SECOND = ["--criterion", "combined", "--consider-both-samples", "--update-metadata"]
"""Two runs that write different lists, relabel files and metadata: the second replaces all of the first's."""


def list_of(root: Path) -> Path:
    return root / "exclusions" / "plastic_500hz_tracin_exclusions.txt"


def argv(root: Path, flags: list[str]) -> list[str]:
    return ["--metadata-file", str(root / "metadata" / "plastic_500hz_influence_metadata.json"),
            "--output-file", str(list_of(root)), *flags]


def files(root: Path) -> dict[str, object]:
    """Every file under root, by relative path; a file's dated backups together, by content (their times vary)."""
    out: dict[str, object] = {}
    backups: dict[str, list[bytes]] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            name = str(p.relative_to(root))
            dated = re.match(r"^(.*)\.\d{8}-\d{6}(?:-\d+)?\.bak$", name)
            if dated:
                backups.setdefault(dated.group(1), []).append(p.read_bytes())
            else:
                out[name] = p.read_bytes()
    return {**out, **{f"{name} (backups)": sorted(found) for name, found in backups.items()}}


def killed_at(at: int, args: list[str]) -> int:
    """Run generate in a forked copy of this process that SIGKILLs itself before its `at`-th rename
    (0-based); return how it ended (the signal number, or the exit status when it finished first)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            real, done = utils.staging._replace, []

            def rename(src, dst):
                if len(done) == at:
                    os.kill(os.getpid(), signal.SIGKILL)
                real(src, dst)
                done.append(dst)

            utils.staging._replace = rename
            gen.main(args)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


@pytest.fixture
def renames(make_root, tmp_path, monkeypatch) -> list[str]:
    """The files the second run renames into place, in order (counted on an uninterrupted run)."""
    root = make_root(tmp_path / "count")
    assert gen.main(argv(root, FIRST)) == 0
    names, real = [], utils.staging._replace
    monkeypatch.setattr(utils.staging, "_replace", lambda src, dst: (names.append(Path(dst).name), real(src, dst)))
    assert gen.main(argv(root, SECOND)) == 0
    monkeypatch.setattr(utils.staging, "_replace", real)
    return names


@pytest.mark.slow
def test_a_kill_between_any_two_renames_is_accepted_as_one_run_or_refused_then_finished(
        make_root, tmp_path, renames, cli, one_error_line):
    assert len(renames) >= 8 and renames[-3:] == ["plastic_500hz_tracin_exclusions_review.csv",
                                                  "plastic_500hz_tracin_exclusions_review.md",
                                                  "plastic_500hz_tracin_exclusions_review.html"]
    root = tmp_path / "root"  # every case at the same path: the files name it
    make_root(root)
    assert gen.main(argv(root, FIRST)) == 0
    first = files(root)
    assert gen.main(argv(root, SECOND)) == 0
    uninterrupted = files(root)
    assert first != uninterrupted
    refused = []
    for k in range(len(renames)):
        shutil.rmtree(root)
        make_root(root)
        assert gen.main(argv(root, FIRST)) == 0
        assert killed_at(k, argv(root, SECOND)) == signal.SIGKILL
        try:
            check_one_generate_run(list_of(root))
        except ValueError as exc:  # a mix: refused, in one line, naming the file that disagrees
            assert "\n" not in str(exc) and "generate run" in str(exc) and "run it again" in str(exc)
            refused.append(k)
            for flag, path in (("--exclusions-file", list_of(root)), ("--relabel-file", relabel_file_for(list_of(root)))):
                code, _, err = cli(train_script, ["--frequency", "500hz", flag, str(path)])
                assert code == 1 and "interrupted generate_tracin_exclusions.py" in one_error_line(err, "train.py", True)
        # The next generate (the same command) finishes the killed one's renames before anything else.
        code, _, err = cli(gen, argv(root, SECOND))
        assert code == 0, err
        assert files(root) == uninterrupted, (k, renames[k])
        assert not [p for p in root.rglob("*") if ".sinetone-" in p.name]
        check_one_generate_run(list_of(root))
    # Killed up to the list's rename, the first run's set is still whole; after the last of the list, the
    # relabel file and the metadata, the new one is (only the review sheet lags); in between: refused.
    members = [renames.index(name) for name in ("plastic_500hz_tracin_exclusions.txt", "plastic_500hz_metadata.json",
                                                "plastic_500hz_tracin_exclusions_relabel.txt")]
    assert refused == list(range(min(members) + 1, max(members) + 1)), (refused, renames)


def test_a_kill_before_the_commit_point_changes_nothing(make_root, tmp_path):
    """Killed while the commit's journal is written (before its marker): every file is as it was, and the next
    writer (here the first run's command again, which then has nothing to change) removes the staged files."""
    root = make_root(tmp_path / "root")
    assert gen.main(argv(root, FIRST)) == 0
    before = files(root)
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            utils.staging._write_synced = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
            gen.main(argv(root, SECOND))
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    left = [p for p in root.rglob("*") if ".sinetone-staging" in p.name]
    assert left and {k: v for k, v in files(root).items() if ".sinetone" not in k} == before
    assert gen.main(argv(root, FIRST)) == 0
    assert files(root) == before


def test_ctrl_c_during_the_renames_says_everything_was_written(make_root, tmp_path, monkeypatch, cli, ctrl_c_raises):
    root = make_root(tmp_path / "root")
    assert gen.main(argv(root, FIRST)) == 0
    real, done = utils.staging._replace, []

    def rename(src, dst):
        if len(done) == 4:
            signal.raise_signal(signal.SIGINT)
        real(src, dst)
        done.append(dst)

    monkeypatch.setattr(utils.staging, "_replace", rename)
    code, _, err = cli(gen, argv(root, SECOND))
    assert code == 2
    assert "generate_tracin_exclusions.py: interrupted after every file was written (" in err
    assert "the new set is complete" in err
    check_one_generate_run(list_of(root))
    assert not [p for p in root.rglob("*") if ".sinetone-" in p.name]
