"""`train()` and the run folder it writes, on the shared tiny data set (6 angles x 4 takes)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

import train as train_script
from datasets import AudioSpectrumDataset, DatasetConfig
from datasets.sample_id import SampleId
from datasets.pairs import SPLIT_NAMES
from models import build_model
from training.config import TrainConfig
from training.trainer import train
from datasets.sample_id import angle_of
from utils.constants import DEFAULT_ANGLES, SAMPLE_RATE

TAKES = 4  # conftest's data_root
FAST = ["--epochs", "3", "--checkpoint-interval", "2", "--device", "cpu", "--no-progress"]


def cfg(data_root: Path, **kw) -> TrainConfig:
    base = dict(frequency="500hz", data_root=data_root, epochs=3, checkpoint_interval=2, device="cpu", progress=False)
    base.update(kw)
    return TrainConfig(**base)


def read(path: Path):
    return json.loads(path.read_text())


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def sid(angle: int, take: int) -> str:
    return str(SampleId.of("plastic", angle, "500hz", take))


def write_exclusions(path: Path, ids: list[str]) -> Path:
    path.write_text("# test exclusions\n" + "".join(f"{s}\n" for s in ids))
    return path


def test_run_folder_contents(baseline, data_root):
    names = sorted(p.name for p in baseline.iterdir())
    assert names == sorted([
        "model_checkpoint_epoch_2.pt", "model_checkpoint_epoch_3.pt", "run.json", "history.json",
        "summary.json", "scores.json", "training_curves.png",
    ])
    run = read(baseline / "run.json")
    assert run["seed"] == 0
    assert run["config"]["epochs"] == 3 and run["config"]["loss_type"] == "standard"
    assert run["config"]["data_root"] == str(data_root.resolve())
    split = run["split"]
    all_ids = sorted(s for n in SPLIT_NAMES for s in split[n])
    assert all_ids == sorted(sid(a, t) for a in DEFAULT_ANGLES for t in range(1, TAKES + 1))
    assert run["excluded_ids"] == []
    assert run["counts"] == {
        "recordings": 24, "excluded_recordings": 0,
        "train_recordings": 12, "validation_recordings": 6, "holdout_recordings": 6,
        # 12 recordings, 2 per angle: 66 pairs less the 6 same-angle ones; 6 recordings: 15.
        "train_pairs": 60, "validation_pairs": 15, "holdout_pairs": 15,
        "train_pairs_removed": 0, "validation_pairs_removed": 0, "holdout_pairs_removed": 0,
    }

    history = read(baseline / "history.json")
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[0]["learning_rate"] > history[1]["learning_rate"] > history[2]["learning_rate"]  # cosine
    for h in history:
        assert math.isfinite(h["train_loss"]) and math.isfinite(h["validation_loss"])

    summary = read(baseline / "summary.json")
    for name in SPLIT_NAMES:
        assert 0.0 <= summary[f"{name}_pairwise_accuracy"] <= 1.0
        assert -1.0 <= summary[f"{name}_spearman"] <= 1.0

    scores = read(baseline / "scores.json")
    assert sorted(scores) == all_ids
    assert (baseline / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    for epoch in (2, 3):
        ckpt = load(baseline / f"model_checkpoint_epoch_{epoch}.pt")
        for key in ("model_state", "optimizer_state", "epoch", "learning_rate", "config", "seed", "model_class",
                    "model_kwargs", "split"):
            assert key in ckpt, key
        assert ckpt["epoch"] == epoch
        assert ckpt["learning_rate"] == history[epoch - 1]["learning_rate"]
        assert ckpt["config"] == run["config"] and ckpt["seed"] == 0 and ckpt["split"] == split
        assert ckpt["model_class"] == "SimpleCNNAudioRanker"
        assert ckpt["optimizer_state"]["state"]  # Adam moments were saved
    # The last checkpoint is the model that wrote scores.json.
    model = build_model(ckpt["model_class"], ckpt["model_kwargs"])
    model.load_state_dict(ckpt["model_state"], strict=True)
    model.eval()
    ds = AudioSpectrumDataset(DatasetConfig(data_root=data_root), progress=False)
    with torch.no_grad():
        again = model(ds.spectrograms).double().numpy()
    np.testing.assert_allclose(again, [scores[s] for s in ds.sample_ids], rtol=1e-5, atol=1e-6)


def test_same_seed_gives_bit_identical_checkpoints(data_root):
    a = train(cfg(data_root, run_name="det_a", epochs=2, checkpoint_interval=1)).run_dir
    b = train(cfg(data_root, run_name="det_b", epochs=2, checkpoint_interval=1)).run_dir
    c = train(cfg(data_root, run_name="det_c", epochs=2, checkpoint_interval=1, seed=1)).run_dir
    for epoch in (1, 2):
        ca, cb = load(a / f"model_checkpoint_epoch_{epoch}.pt"), load(b / f"model_checkpoint_epoch_{epoch}.pt")
        assert ca["model_state"].keys() == cb["model_state"].keys()
        for k in ca["model_state"]:
            assert torch.equal(ca["model_state"][k], cb["model_state"][k]), k
        for state_a, state_b in zip(ca["optimizer_state"]["state"].values(), cb["optimizer_state"]["state"].values()):
            for k in state_a:
                assert torch.equal(state_a[k], state_b[k]), k
    assert read(a / "scores.json") == read(b / "scores.json")
    cc = load(c / "model_checkpoint_epoch_2.pt")
    assert not all(torch.equal(ca["model_state"][k], cc["model_state"][k]) for k in ca["model_state"])


def test_training_with_exclusions_and_ghm(baseline, data_root, tmp_path, cli):
    split = read(baseline / "run.json")["split"]
    gone_train = next(s for s in split["train"] if angle_of(s) == 36)
    gone_hold = next(s for s in split["holdout"] if angle_of(s) == 108)
    excl = write_exclusions(tmp_path / "round1.txt", [gone_hold, gone_train])
    code, _, err = cli(train_script, ["--frequency", "500hz", "--data-root", str(data_root), *FAST, "--loss-type", "ghm",
                                      "--exclusions-file", str(excl)])
    assert code == 0, err
    run_dir = data_root / "checkpoints" / "plastic_500hz_ghm_excl_round1"
    summary = read(run_dir / "summary.json")
    assert run_dir.name != cfg(data_root, loss_type="ghm").default_run_name()
    assert baseline.is_dir() and (baseline / "model_checkpoint_epoch_3.pt").is_file()

    run = read(run_dir / "run.json")
    assert run["excluded_ids"] == sorted([gone_train, gone_hold])
    assert run["split"] == split  # the split covers every recording, before exclusions
    c = run["counts"]
    assert (c["recordings"], c["excluded_recordings"]) == (24, 2)
    assert (c["train_recordings"], c["validation_recordings"], c["holdout_recordings"]) == (11, 6, 5)
    # Train: 11 recordings, one angle with 1 take: C(11, 2) - 5 same-angle pairs = 50, so 10 removed.
    # Holdout: 5 recordings at 5 angles: 10 pairs, 5 removed.
    assert (c["train_pairs"], c["train_pairs_removed"]) == (50, 10)
    assert (c["validation_pairs"], c["validation_pairs_removed"]) == (15, 0)
    assert (c["holdout_pairs"], c["holdout_pairs_removed"]) == (10, 5)
    assert summary["excluded_recordings"] == 2 and summary["train_pairs_removed"] == 10
    ckpt = load(run_dir / "model_checkpoint_epoch_3.pt")
    assert ckpt["loss_type"] == "ghm" and ckpt["excluded_ids"] == run["excluded_ids"]
    assert ckpt["loss_state"]["density"].sum() > 0
    # The training pairs are those of the surviving training recordings.
    ds = AudioSpectrumDataset(DatasetConfig(data_root=data_root, exclusions_file=excl), progress=False)
    pairs, _ = ds.pairs(split["train"])
    assert len(pairs) == 50
    assert not {ds.sample_ids[i] for i in pairs.ravel()} & {gone_train, gone_hold}
    scores = read(run_dir / "scores.json")
    assert gone_train in scores and gone_hold in scores and len(scores) == 24

    # An excluded recording never reaches the model: replacing its audio changes no weight.
    path = data_root / "deg036" / "plastic" / f"{gone_train}.wav"
    original = path.read_bytes()
    try:
        t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
        sf.write(str(path), 0.5 * np.sign(np.sin(2 * np.pi * 777 * t)), SAMPLE_RATE, subtype="PCM_16")
        other = train(cfg(data_root, loss_type="ghm", exclusions_file=excl, run_name="ghm_excl_noise"))
    finally:
        path.write_bytes(original)
    ckpt2 = load(other.run_dir / "model_checkpoint_epoch_3.pt")
    for k in ckpt["model_state"]:
        assert torch.equal(ckpt["model_state"][k], ckpt2["model_state"][k]), k
    assert read(other.run_dir / "scores.json")[gone_train] != scores[gone_train]
