"""compute_tracin_influence.py refuses bad input with one line and writes nothing: a prefix that
matches nothing, checkpoints of another architecture, truncated or unsafe files, a metadata
folder that cannot be written, a checkpoint without a learning rate (unless
--assume-learning-rate says which), an incomplete run (unless --allow-incomplete), epochs
that have no checkpoint."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import compute_tracin_influence as cti
from models import SimpleCNNAudioRanker
from utils.constants import CHECKPOINT_PREFIX as PREFIX

SCRIPT = "compute_tracin_influence.py"


@pytest.fixture(scope="module")
def run_dir(baseline) -> Path:
    """The shared baseline run: checkpoints at epochs 2 and 3 (never modified here: tests copy it)."""
    return baseline


def base_args(checkpoint_dir: Path, *extra: str) -> list[str]:
    return ["--frequency", "500hz", "--checkpoint-dir", str(checkpoint_dir), "--compute-influence", "--no-progress",
            *extra]


def load_ckpt(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def copy_run(run_dir: Path, dest: Path) -> Path:
    shutil.copytree(run_dir, dest)
    return dest


def test_no_checkpoint_matches_the_prefix(run_dir, cli, one_error_line):
    code, _, err = cli(cti, base_args(run_dir, "--checkpoint-prefix", "ckpt_epoch"))
    assert code == 1
    line = one_error_line(err, SCRIPT)
    assert "ckpt_epoch_<epoch>.pt" in line
    for name in (f"{PREFIX}_2.pt", f"{PREFIX}_3.pt", "run.json"):
        assert name in line


def test_checkpoint_of_another_architecture(run_dir, tmp_path, cli, one_error_line):
    folder = copy_run(run_dir, tmp_path / "arch")
    path = folder / f"{PREFIX}_2.pt"
    ckpt = load_ckpt(path)
    other = SimpleCNNAudioRanker(max_freq_bins=ckpt["model_kwargs"]["max_freq_bins"], channels=(4, 8, 8))
    ckpt["model_state"] = other.state_dict()
    torch.save(ckpt, path)
    code, _, err = cli(cti, base_args(folder, "--metadata-dir", str(tmp_path / "meta")))
    assert code == 1
    line = one_error_line(err, SCRIPT)
    assert str(path) in line and "different architecture" in line
    assert not (tmp_path / "meta" / "plastic_500hz_influence_metadata.json").exists()

    # Checkpoints that disagree on the architecture belong to different runs.
    ckpt = load_ckpt(run_dir / f"{PREFIX}_2.pt")
    ckpt["model_kwargs"] = dict(ckpt["model_kwargs"], hidden=64)
    torch.save(ckpt, path)
    code, _, err = cli(cti, base_args(folder, "--metadata-dir", str(tmp_path / "meta")))
    assert code == 1
    line = one_error_line(err, SCRIPT)
    assert str(path) in line and "model_kwargs" in line


def test_truncated_checkpoint(run_dir, tmp_path, cli, one_error_line):
    folder = copy_run(run_dir, tmp_path / "cut")
    path = folder / f"{PREFIX}_3.pt"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    code, _, err = cli(cti, base_args(folder, "--metadata-dir", str(tmp_path / "meta")))
    assert code == 1
    line = one_error_line(err, SCRIPT)
    assert str(path) in line and "not a readable checkpoint" in line


def _touch(path: str) -> None:  # what a malicious checkpoint would run on loading
    Path(path).write_text("executed")


class Payload:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (_touch, (self.marker,))


def test_checkpoint_with_a_python_object_is_refused_without_running_it(run_dir, tmp_path, cli, one_error_line):
    folder = copy_run(run_dir, tmp_path / "unsafe")
    path = folder / f"{PREFIX}_2.pt"
    marker = tmp_path / "marker.txt"
    ckpt = load_ckpt(path)
    ckpt["config"] = Payload(marker)
    torch.save(ckpt, path)
    code, _, err = cli(cti, base_args(folder, "--metadata-dir", str(tmp_path / "meta")))
    assert code == 1
    line = one_error_line(err, SCRIPT)
    # torch 2.11 says "unsupported GLOBAL <module>.<name>": the line names the function it would call.
    assert str(path) in line and "unsafe" in line and f"{__name__}._touch" in line
    assert not marker.exists() and not (tmp_path / "meta").exists()
    # The file really does run code when loaded without weights_only: the check above means something.
    torch.load(path, map_location="cpu", weights_only=False)
    assert marker.read_text() == "executed"


def test_checkpoint_without_learning_rate_is_refused_unless_assumed(run_dir, tmp_path, cli, one_error_line):
    folder = copy_run(run_dir, tmp_path / "nolr")
    path = folder / f"{PREFIX}_2.pt"
    ckpt = load_ckpt(path)
    del ckpt["learning_rate"]
    torch.save(ckpt, path)
    meta = tmp_path / "meta"
    code, _, err = cli(cti, base_args(folder, "--metadata-dir", str(meta)))
    assert code == 1
    line = one_error_line(err, SCRIPT)
    assert str(path) in line and "--assume-learning-rate" in line
    assert not meta.exists()

    code, _, err = cli(cti, base_args(folder, "--metadata-dir", str(meta), "--assume-learning-rate", "0.003"))
    assert code == 0, err
    warnings = [ln for ln in err.splitlines() if ln.startswith("WARNING:") and str(path) in ln]
    assert len(warnings) == 1 and "0.003" in warnings[0]
    info = json.loads((meta / "plastic_500hz_influence_run.json").read_text())
    lrs = {c["epoch"]: c["eta"] for c in info["checkpoints"]}
    assert lrs[2] == 0.003
    assert lrs[3] == load_ckpt(folder / f"{PREFIX}_3.pt")["learning_rate"]


def test_incomplete_run_is_refused_unless_allowed(run_dir, tmp_path, cli, one_error_line):
    """A run killed after epoch 2 of 3: run.json says "complete": false and the last checkpoint is 2."""
    folder = copy_run(run_dir, tmp_path / "killed")
    (folder / f"{PREFIX}_3.pt").unlink()
    run = json.loads((folder / "run.json").read_text())
    assert run["complete"] is True and run["final_epoch"] == 3
    (folder / "run.json").write_text(json.dumps({**run, "complete": False}))
    meta = tmp_path / "meta"
    code, _, err = cli(cti, base_args(folder, "--metadata-dir", str(meta)))
    assert code == 1
    line = one_error_line(err, SCRIPT)
    assert str(folder) in line and "epoch 2 of 3" in line and "--resume" in line and "--allow-incomplete" in line
    assert not meta.exists()

    code, _, err = cli(cti, base_args(folder, "--metadata-dir", str(meta), "--allow-incomplete"))
    assert code == 0, err
    assert "incomplete" in err
    info = json.loads((meta / "plastic_500hz_influence_run.json").read_text())
    assert [c["epoch"] for c in info["checkpoints"]] == [2]


@pytest.mark.parametrize("flags, message", [
    (("--epochs", "7"), "no checkpoint of epoch 7 (it holds epochs 2, 3)"),
    (("--every", "0"), "--every must be at least 1"),
    (("--assume-learning-rate", "nan"), "--assume-learning-rate must be a finite positive number"),
])
def test_bad_checkpoint_choice(run_dir, tmp_path, flags, message, cli, one_error_line):
    meta = tmp_path / "meta"
    code, _, err = cli(cti, base_args(run_dir, "--metadata-dir", str(meta), *flags))
    assert code == 1 and message in one_error_line(err, SCRIPT)
    assert not meta.exists()


def test_epochs_and_every_exclude_each_other(run_dir, cli):
    code, _, err = cli(cti, base_args(run_dir, "--epochs", "2", "--every", "2"))
    assert code == 2 and "not allowed with argument" in err


def test_metadata_folder_that_cannot_be_written(run_dir, tmp_path, cli, one_error_line):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder\n")
    code, _, err = cli(cti, base_args(run_dir, "--metadata-dir", str(blocker / "metadata")))
    assert code == 1
    line = one_error_line(err, SCRIPT)
    assert str(blocker / "metadata") in line and "metadata folder" in line
    assert blocker.read_text() == "not a folder\n"
