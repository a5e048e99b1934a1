"""Shared test settings and fixtures.

The models in the tests are tiny: one torch thread is fastest, and two OpenMP threads on
a busy 2-core machine can be a hundred times slower. Subprocesses inherit the variable.

Fixtures shared by several test files live here, once: `data_root` (demo WAVs), `baseline`
(a run trained on them by train.py), `make_data`, `cli` (a script's main() as the shell
runs it), `one_error_line`, `hand_matrix` (the 5 x 4 influence matrix worked by hand), and
`tiny_checkpoints` (a tiny ranker and three seeded states for the TracIn tests).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable

import numpy as np
import pytest
import torch

from datasets.demo_data import DemoDataConfig, generate
from models import SimpleCNNAudioRanker
from utils.cli import run_cli
from utils.constants import DEFAULT_ANGLES

os.environ["OMP_NUM_THREADS"] = "1"

REPO = Path(__file__).resolve().parent.parent
TAKES = 4
"""Takes per angle of `data_root`: the default split puts 2 / 1 / 1 of every angle in train / validation / holdout."""
FAST = ["--epochs", "3", "--checkpoint-interval", "2", "--device", "cpu", "--no-progress"]


def _detach_logging() -> None:
    root = logging.getLogger()
    for handler in [h for h in root.handlers if type(h) is logging.StreamHandler]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _reset_logging():
    """Scripts' main() points logging at the captured stderr of its test; detach it afterwards."""
    yield
    _detach_logging()


@pytest.fixture(scope="session")
def make_data() -> Callable[..., Path]:
    """`make_data(root, takes=2, angles=DEFAULT_ANGLES, seed=0, **kw)`: demo WAVs under `root`."""

    def make(root: Path, takes: int = 2, angles=DEFAULT_ANGLES, seed: int = 0, **kw) -> Path:
        generate(DemoDataConfig(output_root=root, angles=list(angles), takes=takes, seed=seed, **kw))
        return root

    return make


@pytest.fixture(scope="session")
def data_root(tmp_path_factory, make_data) -> Path:
    """6 angles x 4 takes of plastic at 500 Hz (seed 0), shared by the training and influence tests."""
    return make_data(tmp_path_factory.mktemp("shared") / "data", takes=TAKES)


@pytest.fixture(scope="session")
def baseline(data_root) -> Path:
    """`train.py --frequency 500hz` (standard loss, 3 epochs, checkpoints 2 and 3) run once through main()."""
    import train as train_script

    try:
        assert train_script.main(["--frequency", "500hz", "--data-root", str(data_root), *FAST]) == 0
    finally:
        _detach_logging()
    return data_root / "checkpoints" / "plastic_500hz_standard"


@pytest.fixture
def cli(capsys) -> Callable[..., tuple[int, str, str]]:
    """`cli(script_module, argv)`: the script's main() as the shell runs it -> (exit code, stdout, stderr)."""

    def run(script: ModuleType, argv: list[str]) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exc:
            run_cli(lambda: script.main(argv), f"{script.__name__}.py")
        out, err = capsys.readouterr()
        return exc.value.code, out, err

    return run


@pytest.fixture(scope="session")
def one_error_line() -> Callable[..., str]:
    """`one_error_line(stderr, script, warnings=False)`: the single `script: error: ...` line of stderr.

    With `warnings`, `WARNING: ...` log lines may come before it."""

    def check(err: str, script: str, warnings: bool = False) -> str:
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        if warnings:
            lines = [ln for ln in lines if not ln.startswith("WARNING: ")]
        assert len(lines) == 1, err
        assert lines[0].startswith(f"{script}: error: "), lines[0]
        return lines[0]

    return check


@dataclass(frozen=True)
class HandMatrix:
    """Five training recordings A..E (angles 0..144), four validation pairs, five training pairs.

    Threshold -1, min-occurrences 2:
      p0 (A,B) occ 3 mean -1.5   p1 (A,C) occ 2 mean -1.5   p2 (B,D) occ 2 mean 0.25
      p3 (C,D) occ 1 (not harmful)   p4 (D,E) occ 2 mean -0.75
    Ranking: p0, p1, p4, p2. Harmful pairs per recording: A 2, B 2, C 1, D 2, E 1; sums of
    below-threshold scores: A -12, B -10, D -7, C -6, E -3. The list is [A, D, B] (one
    recording per pair) or [A, B, C, D, E] (both recordings).
    """

    ids: tuple[str, ...]
    val_ids: tuple[str, ...]
    val_pairs: tuple[tuple[str, str], ...]
    pairs: tuple[tuple[str, str], ...]
    influence: np.ndarray


@pytest.fixture(scope="session")
def hand_matrix() -> HandMatrix:
    a, b, c, d, e = (f"plastic_deg{angle:03d}_500hz_01" for angle in (0, 36, 72, 108, 144))
    val_ids = tuple(f"plastic_deg{angle:03d}_500hz_02" for angle in (0, 36, 72, 108, 144))
    influence = np.array(
        [
            [-2.0, -2.0, -2.0, 0.0],
            [-3.0, -3.0, 0.0, 0.0],
            [-2.0, -2.0, 0.0, 5.0],
            [-5.0, 0.0, 0.0, 0.0],
            [-1.5, -1.5, 0.0, 0.0],
        ]
    )
    influence.setflags(write=False)
    return HandMatrix(
        ids=(a, b, c, d, e),
        val_ids=val_ids,
        val_pairs=tuple(zip(val_ids[:-1], val_ids[1:])),
        pairs=((a, b), (a, c), (b, d), (c, d), (d, e)),
        influence=influence,
    )


@dataclass(frozen=True)
class TinyCheckpoints:
    """A tiny ranker (float64) and three seeded states whose scores spread over about +-1."""

    states: tuple[dict, ...]
    etas: tuple[float, ...] = (0.5, 0.1, 0.02)

    @staticmethod
    def model() -> SimpleCNNAudioRanker:
        return SimpleCNNAudioRanker(time_pool=2, channels=(3, 4, 4), hidden=6, freq_cells=2).double()


@pytest.fixture(scope="session")
def tiny_checkpoints() -> TinyCheckpoints:
    states = []
    for seed in (1, 2, 3):
        torch.manual_seed(seed)
        state = {k: v.clone() for k, v in TinyCheckpoints.model().state_dict().items()}
        state["head.0.weight"] *= 4.0  # the init's spread of scores is tiny
        state["head.2.weight"] *= 10.0
        states.append(state)
    return TinyCheckpoints(tuple(states))
