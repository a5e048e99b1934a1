"""README promise: one writer at a time. A second writer of a folder waits --lock-timeout seconds, then
stops with one line naming the holder and writes nothing; a lock dies with its process, so a killed
writer never leaves a folder locked. (The lock itself: tests/test_utils_locking.py; two computes at
once: tests/test_influence_fingerprint.py.)"""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import generate_tracin_exclusions as gen
import train as train_script
from conftest import FAST
from utils.locking import folder_lock

REPO = Path(__file__).resolve().parent.parent


def every_file(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def generate_args(root: Path, *extra: str) -> list[str]:
    return ["--metadata-file", str(root / "metadata" / "plastic_500hz_influence_metadata.json"), "--update-metadata",
            *extra]


def test_generate_waits_for_a_held_metadata_folder_then_names_the_holder(make_root, tmp_path, cli, one_error_line):
    root = make_root(tmp_path / "root")
    before = every_file(root)
    with folder_lock(root / "metadata", command="compute_tracin_influence.py (another one)"):
        code, _, err = cli(gen, generate_args(root, "--lock-timeout", "0.2"))
    assert code == 1
    line = one_error_line(err.split("\n", 1)[1], "generate_tracin_exclusions.py")  # after the line saying it waits
    assert "(another one)" in line and str(root / "metadata") in line and "--lock-timeout" in line
    assert every_file(root) == before


def test_train_waits_for_its_held_run_folder_then_names_the_holder(data_root, cli, one_error_line):
    run_dir = data_root / "checkpoints" / "locked_run"
    run_dir.mkdir(parents=True)
    with folder_lock(run_dir, command="train.py --run-name locked_run (the other one)"):
        code, _, err = cli(train_script, ["--frequency", "500hz", "--data-root", str(data_root), "--run-name",
                                          "locked_run", "--lock-timeout", "0.2", *FAST])
    assert code == 1
    line = one_error_line([ln for ln in err.splitlines() if not ln.startswith("INFO: ")][0], "train.py")
    assert "(the other one)" in line and str(run_dir) in line
    assert sorted(p.name for p in run_dir.iterdir()) == []  # no run.json, no checkpoint


def test_a_killed_writer_leaves_no_lock(make_root, tmp_path, cli):
    root = make_root(tmp_path / "root")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from utils.locking import folder_lock\n"
        "with folder_lock(sys.argv[1], command='generate_tracin_exclusions.py (killed)'):\n"
        "    print('locked', flush=True); time.sleep(60)"), str(root / "metadata")],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, _, err = cli(gen, generate_args(root, "--lock-timeout", "0"))
        assert code == 1 and "(killed)" in err
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (root / "metadata" / ".sinetone.lock").exists()  # the file stays; the lock died with its process
    code, _, err = cli(gen, generate_args(root, "--lock-timeout", "0"))
    assert code == 0, err
    assert not (root / "metadata" / ".sinetone.lock").exists()
