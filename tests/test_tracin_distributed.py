"""`torchrun --nproc-per-node 2 compute_tracin_influence.py`: two CPU processes (gloo) share the
gradients and write the same scores as one process (float64)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from influence.io import load_influence

pytestmark = pytest.mark.slow  # torchrun: two real processes
REPO = Path(__file__).resolve().parent.parent


def compute(baseline: Path, meta: Path, processes: int, *extra: str) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    argv = ["compute_tracin_influence.py", "--frequency", "500hz", "--checkpoint-dir", str(baseline),
            "--compute-influence", "--double-precision", "--device", "cpu", "--metadata-dir", str(meta), "--no-progress",
            *extra]
    return subprocess.run((launcher if processes > 1 else [sys.executable]) + argv, cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def test_two_processes_give_the_scores_of_one(baseline, tmp_path):
    # The third run has 0.1 MB for gradients: its biggest tensors' gradients are spilled to a file
    # and exchanged between the processes chunk by chunk (tracin.gram).
    runs = {"one": compute(baseline, tmp_path / "one", 1), "two": compute(baseline, tmp_path / "two", 2),
            "spilled": compute(baseline, tmp_path / "spilled", 2, "--memory-mb", "0.1")}
    for name, run in runs.items():
        assert run.returncode == 0, (name, run.stderr)
    assert runs["two"].stdout.count("run fingerprint") == 1 and "(2 process(es))" in runs["two"].stdout
    a = load_influence(tmp_path / "one" / "plastic_500hz_influence_metadata.json")
    for other in ("two", "spilled"):
        b = load_influence(tmp_path / other / "plastic_500hz_influence_metadata.json")
        assert (a.info.processes, b.info.processes) == (1, 2) and a.info.fingerprint == b.info.fingerprint
        for name in ("influence", "pair_mean_z", "rec_total", "rec_self_influence", "pair_self_influence",
                     "checkpoint_scores"):
            x, y = np.asarray(getattr(a, name), float), np.asarray(getattr(b, name), float)
            assert np.abs(x - y).max() <= 1e-10 * np.abs(x).max(), (other, name)
        np.testing.assert_array_equal(a.pair_low_idx, b.pair_low_idx)
