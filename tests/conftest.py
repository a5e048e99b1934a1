"""Shared test settings and fixtures.

The models in the tests are tiny: one torch thread is fastest, and two OpenMP threads on
a busy 2-core machine can be a hundred times slower. Subprocesses inherit the variable.

Fixtures shared by several test files live here, once: `data_root` (demo WAVs), `baseline`
(a run trained on them by train.py), `make_data`, `cli` (a script's main() as the shell
runs it), `one_error_line`, `scored` (influence files of known answer), `make_root` (a
data root holding them, with real WAVs if asked), `tiny_checkpoints` (a tiny ranker and
three seeded states for the TracIn tests), and `browser` (headless Chromium, `headless.py`).
"""
from __future__ import annotations

import json
import logging
import os
import signal
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
from datasets.sample_id import angle_of
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


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt, as in a terminal, however pytest was started.

    A shell starts background jobs (`cmd &`, nohup) with SIGINT ignored, and Python then
    keeps ignoring it; the Ctrl-C tests need the handler an interactive run has.
    """
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


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


ANGLES4 = (0, 36, 72, 108)


@dataclass(frozen=True)
class Scored:
    """Influence files of known answer, for the generate tests (no training needed).

    Training: 16 recordings, 4 takes at each of 0, 36, 72, 108 degrees (`ids`, sorted);
    validation: 8 recordings (2 takes each); every cross-angle pair of each. Scores are set
    by hand on the standardised scale:
      - every training pair of `hub` (plastic_deg036_500hz_01) has six scores of -5 (harmful),
        and so do the two clean pairs (deg000_02, deg072_02) and (deg000_03, deg108_03):
        `pairs` lists the hub alone (12 harmful pairs against 1 or 2 for the others);
      - `misfit` (plastic_deg000_500hz_01) scores like 108 degrees at every checkpoint:
        `misfit` lists it, suggested angle 108;
      - `own` (plastic_deg072_500hz_03) has six recording-level scores of -5: `recordings` lists it;
      - `loud` (plastic_deg108_500hz_02) has self-influence 10 (the others about 1).
    `combined` lists hub and misfit.
    """

    ids: tuple[str, ...]
    val_ids: tuple[str, ...]
    hub: str = "plastic_deg036_500hz_01"
    misfit: str = "plastic_deg000_500hz_01"
    own: str = "plastic_deg072_500hz_03"
    loud: str = "plastic_deg108_500hz_02"

    def data(self, info: dict | None = None):
        from influence.data import InfluenceData, angles_of

        sample_ids = sorted(self.ids + self.val_ids)
        index = {s: i for i, s in enumerate(sample_ids)}
        angles = angles_of(sample_ids)
        train = [(a, b) for i, a in enumerate(self.ids) for b in self.ids[i + 1:] if angles_of([a]) != angles_of([b])]
        val = [(a, b) for i, a in enumerate(self.val_ids) for b in self.val_ids[i + 1:] if angles_of([a]) != angles_of([b])]
        bad = {("plastic_deg000_500hz_02", "plastic_deg072_500hz_02"), ("plastic_deg000_500hz_03", "plastic_deg108_500hz_03")}
        harmful = [self.hub in pair or pair in bad for pair in train]
        k, Q = 6, len(val)
        pair_low = np.where(np.asarray(harmful)[:, None], -5.0, 0.0) * np.ones((len(train), k))
        rec_low = np.zeros((len(self.ids), k))
        rec_low[self.ids.index(self.own)] = -5.0
        scores = np.asarray([angle_of(s) / 36.0 for s in self.ids])
        scores[self.ids.index(self.misfit)] = 3.0  # lands among the 108-degree recordings
        scores = scores + np.linspace(-0.05, 0.05, len(self.ids))
        self_infl = 1.0 + np.linspace(-0.1, 0.1, len(self.ids))
        self_infl[self.ids.index(self.loud)] = 10.0
        return InfluenceData(
            sample_ids=sample_ids, angles=angles,
            train_pairs=np.asarray([[index[a], index[b]] for a, b in train]),
            val_pairs=np.asarray([[index[a], index[b]] for a, b in val]),
            recordings=np.asarray([index[s] for s in self.ids]),
            pair_low_z=pair_low, pair_low_idx=np.tile(np.arange(k), (len(train), 1)),
            pair_mean_z=np.where(harmful, -2.0, 0.3),
            rec_low_z=rec_low, rec_low_idx=np.tile(np.arange(k), (len(self.ids), 1)),
            rec_mean_z=rec_low.mean(axis=1) * k / Q, rec_total=np.zeros(len(self.ids)),
            rec_self_influence=self_infl, checkpoint_scores=np.stack([scores] * 4),
            checkpoint_epochs=np.arange(1, 5), info=dict(info or {"seed": 3, "loss_type": "standard"}),
        )


@pytest.fixture(scope="session")
def scored() -> Scored:
    def ids(takes):
        return tuple(f"plastic_deg{a:03d}_500hz_{t:02d}" for a in ANGLES4 for t in takes)

    return Scored(ids=ids((1, 2, 3, 4)), val_ids=ids((5, 6)))


@pytest.fixture
def make_root(scored, make_data):
    """`make_root(folder, wavs=False)`: folder/metadata with the sample metadata (with a user key) and `scored`'s
    influence files; with `wavs`, the recordings too (demo WAVs of every id, no faults planted)."""
    from influence.io import save_influence

    def make(folder: Path, wavs: bool = False) -> Path:
        meta_dir = folder / "metadata"
        meta_dir.mkdir(parents=True)
        if wavs:
            make_data(folder, takes=6, angles=ANGLES4)  # takes 1-4 train, 5-6 validation, as `scored` has them
        records = {}
        for sid in scored.ids + scored.val_ids:
            angle = angle_of(sid)
            records[sid] = {"id": sid, "file_path": f"deg{angle:03d}/plastic/{sid}.wav", "angle": angle,
                            "material": "plastic", "frequency": "500hz", "seq_num": 1, "excluded": False,
                            "notes": "", "listened": "yes"}
        (meta_dir / "plastic_500hz_metadata.json").write_text(json.dumps(records, indent=2))
        save_influence(meta_dir / "plastic_500hz_influence_metadata.json", scored.data())
        return folder

    return make


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session (`headless.Browser`). Where it cannot run, the test skips, saying
    why, unless $SINETONE_REQUIRE_BROWSER is 1 (CI's .ci/run sets it): then it fails."""
    import headless

    why = headless.missing_browser()
    if why is not None:
        if os.environ.get(headless.REQUIRE_ENV) == "1":
            pytest.fail(f"{why} (and {headless.REQUIRE_ENV}=1)", pytrace=False)
        pytest.skip(why)
    chromium = headless.Browser()
    yield chromium
    chromium.close()


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
