"""README promise: a full disk changes nothing. generate on a real, small file system (a tmpfs) with 40,
160, 300, 600 and 1,200 KB free either writes its whole new set or leaves every file byte-identical,
with one error line naming the files and the space they need, and never leaves a staging folder.

Mounting a tmpfs needs root (CI runs as root); where it cannot be mounted, the tests are skipped,
saying why.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import compute_tracin_influence as cti
import generate_tracin_exclusions as gen
from datasets.exclusions import load_exclusions
from datasets.stamps import check_one_generate_run, read_stamp, relabel_file_for
from utils.backups import Output, write_together

FREE_KB = (40, 160, 300, 600, 1200)
INFLUENCE = "metadata/plastic_500hz_influence_metadata.json"
LIST = "exclusions/plastic_500hz_tracin_exclusions.txt"


@contextlib.contextmanager
def tmpfs(folder: Path, size_kb: int):
    """A tmpfs of `size_kb` mounted on `folder` for the body (skips the test where none can be mounted)."""
    folder.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({(done.stderr or done.stdout).strip()}): the full-disk tests need root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def leave_free(folder: Path, kb: int) -> None:
    """Fill the file system of `folder` until `kb` KB are free."""
    st = os.statvfs(folder)
    fill = st.f_bavail * st.f_frsize - kb * 1024
    with open(folder / "filler", "wb") as handle:
        handle.write(b"\0" * fill)
    st = os.statvfs(folder)
    assert st.f_bavail * st.f_frsize == kb * 1024


def state(root: Path) -> dict[str, bytes]:
    """Every file under `root` (the filler aside), staging leftovers included."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "filler"}


@pytest.fixture(scope="module")
def first_set(baseline, tmp_path_factory) -> Path:
    """A data folder's metadata and exclusions: compute on the baseline run, then the tutorial's list. The
    recordings stay in the data root the run was trained on (the review sheet reads them there)."""
    root = tmp_path_factory.mktemp("full_disk") / "set"
    assert cti.main(["--frequency", "500hz", "--checkpoint-dir", str(baseline), "--metadata-dir",
                     str(root / "metadata"), "--compute-influence", "--no-progress", "--device", "cpu"]) == 0
    assert gen.main(["--metadata-file", str(root / INFLUENCE), "--output-file", str(root / LIST), "--update-metadata",
                     "--criterion", "misfit"]) == 0
    return root


@pytest.mark.slow
def test_generate_on_a_full_disk_writes_everything_or_nothing(first_set, tmp_path, cli):
    outcomes = {}
    for kb in FREE_KB:
        used = sum(p.stat().st_size // 4096 * 4 + 8 for p in first_set.rglob("*") if p.is_file())
        with tmpfs(tmp_path / f"fs{kb}", used + kb + 1024) as fs:
            shutil.copytree(first_set, fs / "set")
            root = fs / "set"
            leave_free(fs, kb)
            before = state(fs)
            code, out, err = cli(gen, ["--metadata-file", str(root / INFLUENCE), "--output-file", str(root / LIST),
                                       "--update-metadata", "--criterion", "combined", "--plot"])
            after = state(fs)
            assert not [name for name in after if ".sinetone-" in name], kb  # no staging folder, no commit marker
            if code == 0:
                # The new set, whole: one generate stamp on the list, the relabel file and the metadata.
                check_one_generate_run(root / LIST)
                stamp = read_stamp(root / LIST)
                assert stamp.stamp and stamp.metadata == (root / "metadata/plastic_500hz_metadata.json").resolve()
                assert read_stamp(relabel_file_for(root / LIST)).stamp == stamp.stamp
                assert load_exclusions(root / LIST).ids and (root / LIST).with_suffix(".png").is_file()
                assert (root / "exclusions/plastic_500hz_tracin_exclusions_review.png").stat().st_size > 0
            else:
                lines = [ln for ln in err.splitlines() if ln.startswith("generate_tracin_exclusions.py: error: ")]
                assert code == 1 and len(lines) == 1, err
                assert "not enough free space" in lines[0] and "plastic_500hz_tracin_exclusions.txt" in lines[0]
                assert "they need" in lines[0] and "nothing was changed" in lines[0]
                assert after == before, kb  # every file byte-identical, no backup written
            outcomes[kb] = code
    assert outcomes[FREE_KB[0]] == 1 and outcomes[FREE_KB[-1]] == 0, outcomes  # both ways were tried


def test_a_disk_that_fills_while_writing_names_the_file(tmp_path):
    """An output of unknown size passes the free-space check; the disk fills while it is written: one line
    naming it, and nothing changed (the other file, written first, is not in place either)."""
    with tmpfs(tmp_path / "fs", 256) as fs:
        (fs / "a.txt").write_text("old a")
        before = state(fs)

        def big(tmp: Path) -> None:
            tmp.write_bytes(b"x" * 512 * 1024)  # more than the whole file system

        with pytest.raises(OSError) as exc:
            write_together([Output.of_text(fs / "a.txt", "new a", backup=True), Output(fs / "b.bin", big)])
        assert str(exc.value).startswith(f"no space left on the device for {fs / 'b.bin'}")
        assert "nothing was changed" in str(exc.value) and "\n" not in str(exc.value)
        assert state(fs) == before


def test_compute_refuses_before_its_work_and_names_the_flag_that_writes_less(tmp_path):
    """compute checks the free space before any gradient; the way out it names is a flag that exists for the run:
    --no-dense when the dense files are written by default (small runs), 'drop --dense' only when --dense was given."""
    from influence.config import InfluenceConfig
    from influence.outputs import plan_outputs

    with tmpfs(tmp_path / "fs", 512) as fs:
        for dense, hint in ((None, "pass --no-dense (the summary files need about"),
                            (True, "drop --dense (the summary files need about"),
                            (False, "free some space, or pass --no-json")):
            cfg = InfluenceConfig(frequency="500hz", material="plastic", checkpoint_dir=tmp_path, dense=dense)
            with pytest.raises(ValueError) as exc:
                plan_outputs(cfg, 1000, 1000 if dense is not False else 100_000, fs, True, 0)
            assert f"in {fs}, which has" in str(exc.value) and hint in str(exc.value), str(exc.value)


def test_a_full_disk_still_locks(tmp_path):
    """No byte free: the lock is taken all the same (its holder unnamed), so the error that follows is the
    space's, not a bare '[Errno 28]' from the lock file."""
    from utils.locking import FolderBusy, folder_lock

    with tmpfs(tmp_path / "fs", 64) as fs:
        leave_free(fs, 0)
        with folder_lock(fs, timeout=0):
            with pytest.raises(FolderBusy, match="another process"):
                with folder_lock(fs, timeout=0):
                    pass
        assert not (fs / ".sinetone.lock").exists()
