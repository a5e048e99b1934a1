"""README promise: a killed training run continues with `--resume` to a result equal bit for bit.

A training run killed (SIGKILL) after a checkpoint: compute refuses it, `train.py --resume`
finishes it, and the result equals an uninterrupted run tensor for tensor, bit for bit; a
checkpoint that does not fit the run is one error line."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import compute_tracin_influence as cti
import train as train_script
from training.config import TrainConfig
from training.trainer import train

REPO = Path(__file__).resolve().parent.parent
RUN = ["--frequency", "500hz", "--epochs", "4", "--checkpoint-interval", "2", "--loss-type", "ghm", "--device", "cpu",
       "--no-progress"]
KILL_AFTER_EPOCH_2 = """
import os, signal, sys
import training.trainer as trainer
real = trainer.save_checkpoint
def save_then_die(ckpt, path):
    real(ckpt, path)
    if ckpt.epoch == 2:
        os.kill(os.getpid(), signal.SIGKILL)
trainer.save_checkpoint = save_then_die
import train
sys.exit(train.main(sys.argv[1:]))
"""


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_same(a, b, where: str = "checkpoint") -> None:
    """Equal in every tensor (bit for bit, same dtype and shape) and every other value."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for k, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{k}]")
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"  # NaN equals NaN here


@pytest.mark.slow
def test_killed_run_is_refused_then_resumed_bit_for_bit(data_root, tmp_path, cli, one_error_line):
    whole = train(TrainConfig(frequency="500hz", data_root=data_root, run_name="resume_whole", epochs=4,
                              checkpoint_interval=2, loss_type="ghm", device="cpu", progress=False)).run_dir
    args = [*RUN, "--data-root", str(data_root), "--run-name", "resume_killed"]
    proc = subprocess.run([sys.executable, "-c", KILL_AFTER_EPOCH_2, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    killed = data_root / "checkpoints" / "resume_killed"
    assert sorted(p.name for p in killed.glob("*.pt")) == ["model_checkpoint_epoch_2.pt"]
    assert json.loads((killed / "run.json").read_text())["complete"] is False

    # compute refuses the killed run and writes nothing
    meta = tmp_path / "meta"
    code, _, err = cli(cti, ["--frequency", "500hz", "--checkpoint-dir", str(killed), "--metadata-dir", str(meta),
                             "--compute-influence", "--no-progress"])
    assert code == 1 and "epoch 2 of 4" in one_error_line(err, "compute_tracin_influence.py") and not meta.exists()
    # starting it again without --resume is refused, and says --resume continues it
    code, _, err = cli(train_script, args)
    assert code == 1 and "--resume continues it" in one_error_line(err, "train.py")
    # --resume with other settings is refused
    code, _, err = cli(train_script, [*args, "--resume", "--learning-rate", "0.01"])
    assert code == 1 and "learning_rate 0.003 -> 0.01" in one_error_line(err, "train.py")

    code, out, err = cli(train_script, [*args, "--resume"])
    assert code == 0, err
    run = json.loads((killed / "run.json").read_text())
    assert run["complete"] is True and run["final_epoch"] == 4 and run["resumed"][0]["after_epoch"] == 2
    final_whole, final_resumed = load(whole / "model_checkpoint_epoch_4.pt"), load(killed / "model_checkpoint_epoch_4.pt")
    assert final_whole["loss_state"]["density"].abs().sum() > 0  # GHM state is part of what must match
    assert_same({k: v for k, v in final_resumed.items() if k != "config"},
                {k: v for k, v in final_whole.items() if k != "config"})
    for name in ("history.json", "scores.json"):
        assert (killed / name).read_text() == (whole / name).read_text()

    # a complete run has nothing to resume
    code, _, err = cli(train_script, [*args, "--resume"])
    assert code == 1 and "nothing to resume" in one_error_line(err, "train.py")


def test_resume_from_a_checkpoint_of_another_shape_is_one_line(data_root, tmp_path, cli, one_error_line):
    """An unfinished run whose last checkpoint holds weights of another shape (another run's, copied in):
    --resume says so in one line and changes nothing, where it printed a traceback."""
    args = [*RUN, "--data-root", str(data_root), "--run-name", "resume_other_shape", "--epochs", "2"]
    code, _, err = cli(train_script, args)
    assert code == 0, err
    run_dir = data_root / "checkpoints" / "resume_other_shape"
    info = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**info, "complete": False}))  # as a kill leaves it
    last = run_dir / "model_checkpoint_epoch_2.pt"
    ckpt = load(last)
    name = next(k for k, v in ckpt["model_state"].items() if v.dim() == 2)
    ckpt["model_state"][name] = torch.zeros(3, 5)
    torch.save(ckpt, last)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    code, _, err = cli(train_script, [*args, "--resume"])
    assert code == 1
    line = one_error_line(err, "train.py")
    assert f"--resume: {last} does not fit this run's model" in line and "--overwrite" in line and name in line
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.name != ".sinetone.lock"} == before
