"""`torchrun --nproc-per-node 2 compute_tracin_influence.py`: two CPU processes (gloo) share the
gradients and write the same scores as one process (float64)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from influence.io import load_influence

REPO = Path(__file__).resolve().parent.parent


def compute(baseline: Path, meta: Path, processes: int) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    argv = ["compute_tracin_influence.py", "--frequency", "500hz", "--checkpoint-dir", str(baseline),
            "--compute-influence", "--double-precision", "--device", "cpu", "--metadata-dir", str(meta), "--no-progress"]
    return subprocess.run((launcher if processes > 1 else [sys.executable]) + argv, cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def test_two_processes_give_the_scores_of_one(baseline, tmp_path):
    one, two = compute(baseline, tmp_path / "one", 1), compute(baseline, tmp_path / "two", 2)
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    assert two.stdout.count("run fingerprint") == 1 and "(2 process(es))" in two.stdout  # the first process reports
    a = load_influence(tmp_path / "one" / "plastic_500hz_influence_metadata.json")
    b = load_influence(tmp_path / "two" / "plastic_500hz_influence_metadata.json")
    assert (a.info["processes"], b.info["processes"]) == (1, 2) and a.info["fingerprint"] == b.info["fingerprint"]
    for name in ("influence", "pair_mean_z", "rec_total", "rec_self_influence", "pair_self_influence", "checkpoint_scores"):
        x, y = np.asarray(getattr(a, name), float), np.asarray(getattr(b, name), float)
        assert np.abs(x - y).max() <= 1e-10 * np.abs(x).max(), name
    np.testing.assert_array_equal(a.pair_low_idx, b.pair_low_idx)
