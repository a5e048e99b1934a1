"""Run fingerprints: every output of a compute run carries one; generate refuses parts of two runs.

Fault injection: a SIGINT at each rename of compute's commit leaves the new complete set; a
SIGKILL between two renames leaves parts of two runs, which the next writer finishes from the
commit's journal (and which generate, without the journal, refuses in one line naming both);
a truncated matrix is one line too; two computes at once on one metadata folder
take turns (the lock), and one that cannot get it names the holder."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import compute_tracin_influence as cti
import generate_tracin_exclusions as gen
import utils.staging
from utils.constants import K_SELF_INFLUENCE, K_TRACIN_RUN
from utils.locking import folder_lock

REPO = Path(__file__).resolve().parent.parent
COMPUTE = "compute_tracin_influence.py"
GENERATE = "generate_tracin_exclusions.py"
NAMES = ("plastic_500hz_influence_metadata.json", "plastic_500hz_influence_matrix.npz", "plastic_500hz_metadata.json",
         "plastic_500hz_influence_distribution.png", "plastic_500hz_influence_run.json")
"""What compute writes, in the order it renames them (the run file last)."""


def compute_args(run_dir: Path, meta: Path, *extra: str) -> list[str]:
    return ["--frequency", "500hz", "--checkpoint-dir", str(run_dir), "--metadata-dir", str(meta),
            "--compute-influence", "--no-progress", "--device", "cpu", *extra]


def fingerprints(meta: Path) -> dict[str, object]:
    """The fingerprint each output carries (the sample metadata: the set over its split records)."""
    run = json.loads((meta / NAMES[4]).read_text())
    with np.load(meta / NAMES[1]) as z:
        npz = json.loads(str(z["info_json"]))["fingerprint"]
    records = json.loads((meta / NAMES[2]).read_text())
    return {"run": run["fingerprint"], "npz": npz,
            "metadata": {r[K_TRACIN_RUN] for r in records.values() if K_TRACIN_RUN in r},
            "json_sha256": run["influence_json"]["sha256"]}


@pytest.fixture(scope="module")
def two_runs(baseline, tmp_path_factory, data_root) -> dict[str, Path]:
    """Folders holding the outputs of run A (all checkpoints) and run B (--epochs 2), computed once."""
    import logging

    base = tmp_path_factory.mktemp("fp")
    folders = {}
    for name, extra in (("A", ()), ("B", ("--epochs", "2"))):
        meta = base / name
        assert cti.main(compute_args(baseline, meta, *extra)) == 0
        folders[name] = meta
    root = logging.getLogger()
    for handler in [h for h in root.handlers if type(h) is logging.StreamHandler]:
        root.removeHandler(handler)
    return folders


def fresh(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_every_output_carries_the_fingerprint(two_runs):
    a, b = fingerprints(two_runs["A"]), fingerprints(two_runs["B"])
    assert a["run"] == a["npz"] and a["metadata"] == {a["run"]} and len(a["run"]) == 16
    assert b["run"] == b["npz"] and b["metadata"] == {b["run"]}
    assert a["run"] != b["run"]  # other checkpoints: another fingerprint
    run = json.loads((two_runs["B"] / NAMES[4]).read_text())
    assert [c["epoch"] for c in run["checkpoints"]] == [2]
    assert all(len(c["sha256"]) == 64 and c["bytes"] > 0 for c in run["checkpoints"])
    assert run["influence_json"]["bytes"] == (two_runs["B"] / NAMES[0]).stat().st_size
    # The sample metadata stays a plain object of sample id -> record.
    records = json.loads((two_runs["A"] / NAMES[2]).read_text())
    assert all(isinstance(r, dict) and r["id"] == sid for sid, r in records.items())


def test_same_inputs_same_fingerprint(two_runs, baseline, tmp_path, cli):
    code, out, err = cli(cti, compute_args(baseline, tmp_path / "again"))
    assert code == 0, err
    assert fingerprints(tmp_path / "again")["run"] == fingerprints(two_runs["A"])["run"]
    assert f"run fingerprint: {fingerprints(two_runs['A'])['run']}" in out


@pytest.mark.parametrize("mixed", [(1,), (0, 1), (2,), (4,)])
def test_generate_refuses_parts_of_two_runs(two_runs, tmp_path, mixed, cli, one_error_line):
    """Run B's outputs with some of them (by index in NAMES) from run A."""
    meta = fresh(two_runs["B"], tmp_path / "metadata")
    for k in mixed:
        shutil.copy2(two_runs["A"] / NAMES[k], meta / NAMES[k])
    before = snapshot(meta)
    out_file = tmp_path / "list.txt"
    code, _, err = cli(gen, ["--metadata-file", str(meta / NAMES[0]), "--output-file", str(out_file),
                             "--criterion", "self-influence", "--update-metadata"])
    assert code == 1
    line = one_error_line(err, GENERATE)
    fa, fb = fingerprints(two_runs["A"])["run"], fingerprints(two_runs["B"])["run"]
    assert fa in line and fb in line and "rerun compute_tracin_influence.py" in line
    assert "checkpoints " in line and "computed " in line  # a run is named by its checkpoint folder and time
    assert snapshot(meta) == before and not out_file.exists()


def test_truncated_matrix_is_one_line(two_runs, tmp_path, cli, one_error_line):
    meta = fresh(two_runs["A"], tmp_path / "metadata")
    npz = meta / NAMES[1]
    npz.write_bytes(npz.read_bytes()[:1000])
    before = snapshot(meta)
    code, _, err = cli(gen, ["--metadata-file", str(meta / NAMES[0]), "--output-file", str(tmp_path / "l.txt"),
                             "--update-metadata"])
    assert code == 1
    line = one_error_line(err, GENERATE)
    assert str(npz) in line and "BadZipFile" in line and "rerun compute_tracin_influence.py" in line
    assert snapshot(meta) == before


@pytest.mark.slow
@pytest.mark.parametrize("at", range(len(NAMES)))
def test_sigint_at_each_rename_leaves_the_new_complete_set(two_runs, baseline, tmp_path, at, monkeypatch, cli,
                                                           ctrl_c_raises):
    """Ctrl-C while compute renames its outputs: the renames finish, then the interrupt (exit 2)."""
    meta = fresh(two_runs["A"], tmp_path / "metadata")
    renamed = []
    real = utils.staging._replace

    def rename(src, dst):
        if len(renamed) == at:
            signal.raise_signal(signal.SIGINT)
        real(src, dst)
        renamed.append(Path(dst).name)

    monkeypatch.setattr(utils.staging, "_replace", rename)
    code, _, err = cli(cti, compute_args(baseline, meta, "--epochs", "2"))
    assert code == 2 and "interrupted after every file was written" in err
    assert renamed[0].startswith(f"{NAMES[2]}.") and renamed[0].endswith(".bak")  # the metadata's backup first
    assert renamed[1:] == list(NAMES)
    assert fingerprints(meta) == fingerprints(two_runs["B"])
    assert not [p for p in meta.iterdir() if p.name.startswith(".sinetone-staging")]
    monkeypatch.setattr(utils.staging, "_replace", real)
    code, out, err = cli(gen, ["--metadata-file", str(meta / NAMES[0]), "--output-file", str(tmp_path / "l.txt"),
                               "--criterion", "self-influence"])
    assert code == 0, err
    assert f"# run fingerprint: {fingerprints(two_runs['B'])['run']}\n" in (tmp_path / "l.txt").read_text()


def test_sigint_before_the_renames_keeps_the_old_set(two_runs, baseline, tmp_path, monkeypatch, cli):
    meta = fresh(two_runs["A"], tmp_path / "metadata")
    before = snapshot(meta)
    import influence.outputs

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(influence.outputs, "plot_influence_distribution", interrupted)
    code, _, err = cli(cti, compute_args(baseline, meta, "--epochs", "2"))
    assert code == 2
    assert snapshot(meta) == before
    assert not [p for p in meta.iterdir() if p.name.startswith(".sinetone-staging")]


KILL_AT_RENAME = """
import os, signal, sys
import utils.staging as staging
real, count = staging._replace, []
def rename(src, dst):
    if len(count) == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
    count.append(dst)
staging._replace = rename
import compute_tracin_influence
sys.exit(compute_tracin_influence.main(sys.argv[2:]))
"""


@pytest.mark.slow
def test_sigkill_between_renames_is_finished_by_the_next_writer(two_runs, baseline, tmp_path, cli, one_error_line):
    meta = fresh(two_runs["A"], tmp_path / "metadata")
    # Renames: the metadata's backup, the JSON, the matrix, then (killed) the metadata, picture, run file.
    proc = subprocess.run([sys.executable, "-c", KILL_AT_RENAME, "3", *compute_args(baseline, meta, "--epochs", "2")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    fp = fingerprints(meta)
    assert fp["npz"] == fingerprints(two_runs["B"])["run"] and fp["run"] == fingerprints(two_runs["A"])["run"]
    assert [p for p in meta.iterdir() if p.name.startswith(".sinetone-staging")]
    # Without the commit's journal (its staging folder lost), the mix is refused in one line naming both runs.
    lost = tmp_path / "lost" / "metadata"
    shutil.copytree(meta, lost, ignore=shutil.ignore_patterns(".sinetone-*"))
    argv = ["--output-file", str(tmp_path / "l.txt"), "--criterion", "self-influence"]
    code, _, err = cli(gen, ["--metadata-file", str(lost / NAMES[0]), *argv])
    assert code == 1
    line = one_error_line(err, GENERATE)
    assert fp["npz"] in line and fp["run"] in line and str(baseline) in line
    # With it, the next writer (here generate) finishes the renames: every file of run B, no staging left.
    code, _, err = cli(gen, ["--metadata-file", str(meta / NAMES[0]), *argv])
    assert code == 0, err
    assert "finished the write a killed process had begun" in err
    after = fingerprints(meta)
    assert after["run"] == after["npz"] == fingerprints(two_runs["B"])["run"] and after["metadata"] == {after["run"]}
    assert not [p for p in meta.iterdir() if p.name.startswith(".sinetone-")]


def test_self_influence_of_other_split_records_is_not_left_behind(two_runs):
    records = json.loads((two_runs["A"] / NAMES[2]).read_text())
    assert all(K_SELF_INFLUENCE in r for r in records.values() if r.get("split") == "train")
    assert not [s for s, r in records.items() if r.get("split") != "train" and K_SELF_INFLUENCE in r]


def test_a_held_metadata_folder_is_refused_naming_the_holder(two_runs, baseline, tmp_path, cli, one_error_line):
    meta = fresh(two_runs["A"], tmp_path / "metadata")
    before = snapshot(meta)
    with folder_lock(meta, command="compute_tracin_influence.py --frequency 500hz (another one)"):
        code, _, err = cli(cti, compute_args(baseline, meta, "--lock-timeout", "0.2"))
        assert code == 1
        waiting, error = err.strip().splitlines()  # one line says it waits, one says why it gave up
        assert waiting.startswith("INFO: ") and "waiting up to 0.2 s" in waiting
        line = one_error_line(error, COMPUTE)
        assert f"pid {os.getpid()}" in line and "(another one)" in line and str(meta) in line
        code, _, err = cli(gen, ["--metadata-file", str(meta / NAMES[0]), "--output-file", str(tmp_path / "l.txt"),
                                 "--lock-timeout", "0"])
        assert code == 1 and "(another one)" in one_error_line(err, GENERATE)
    assert snapshot(meta) == before and not (tmp_path / "l.txt").exists()


@pytest.mark.slow
def test_two_computes_at_once_write_one_complete_set(two_runs, baseline, tmp_path):
    """Two real processes on one metadata folder: the second waits for the first; whichever
    finishes last, every output carries one fingerprint."""
    meta = fresh(two_runs["A"], tmp_path / "metadata")
    procs = [subprocess.Popen([sys.executable, COMPUTE, *compute_args(baseline, meta, *extra)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for extra in ((), ("--epochs", "2"))]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert [code for code, _ in results] == [0, 0], results
    fp = fingerprints(meta)
    assert fp["run"] == fp["npz"] and fp["metadata"] == {fp["run"]}
    assert fp["run"] in (fingerprints(two_runs["A"])["run"], fingerprints(two_runs["B"])["run"])


def test_a_later_compute_keeps_a_lists_reasons_under_their_own_run(two_runs, baseline, tmp_path, cli):
    """compute restamps every record with its run; the reasons a list put in the metadata keep the run they came
    from, and the metadata it replaces is kept as a dated backup."""
    meta = fresh(two_runs["A"], tmp_path / "metadata")
    run_a = fingerprints(two_runs["A"])["run"]
    code, _, err = cli(gen, ["--metadata-file", str(meta / NAMES[0]), "--output-file", str(tmp_path / "l.txt"),
                             "--criterion", "self-influence", "--update-metadata"])
    assert code == 0, err
    listed = [s for s, r in json.loads((meta / NAMES[2]).read_text()).items() if r.get("excluded")]
    assert listed
    backups = sorted(meta.glob(f"{NAMES[2]}.*.bak"))
    code, out, err = cli(cti, compute_args(baseline, meta, "--epochs", "2"))
    assert code == 0, err
    records = json.loads((meta / NAMES[2]).read_text())
    run_b = fingerprints(meta)["run"]
    assert run_b != run_a and {records[s][K_TRACIN_RUN] for s in listed} == {run_b}
    assert {records[s]["tracin_info"][K_TRACIN_RUN] for s in listed} == {run_a}  # the list's reasons: run A's
    new = sorted(set(meta.glob(f"{NAMES[2]}.*.bak")) - set(backups))
    assert len(new) == 1 and f"previous sample metadata kept as {new[0]}" in out
