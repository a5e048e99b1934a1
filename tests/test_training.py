"""The ranker, the pair losses and train.py end to end on tiny real data (issue 3)."""
from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import train as train_script
from datasets import AudioSpectrumDataset, DatasetConfig
from losses import GHMPairLoss, MarginRankingPairLoss
from models import SimpleCNNAudioRanker, build_model
from utils.cli import run_cli
from utils.constants import DEFAULT_ANGLES, SAMPLE_RATE
from datasets.demo_data import DemoDataConfig, generate
from training.config import TrainConfig
from training.trainer import train

REPO = Path(__file__).resolve().parent.parent
SPLITS = ("train", "validation", "holdout")
# 6 angles x 4 takes; the default split puts 2 / 1 / 1 takes of every angle in train / validation / holdout.
TAKES = 4
FAST = ["--epochs", "3", "--checkpoint-interval", "2", "--device", "cpu", "--no-progress"]



@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train") / "data"
    generate(DemoDataConfig(output_root=root, takes=TAKES, seed=0))
    return root


@pytest.fixture(scope="module")
def baseline(data_root) -> Path:
    """`train.py --frequency 500hz` (standard loss) run once through main()."""
    try:
        assert train_script.main(["--frequency", "500hz", "--data-root", str(data_root), *FAST]) == 0
    finally:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if type(h) is logging.StreamHandler]:
            root.removeHandler(handler)
    return data_root / "checkpoints" / "plastic_500hz_standard"


def cfg(data_root: Path, **kw) -> TrainConfig:
    base = dict(frequency="500hz", data_root=str(data_root), epochs=3, checkpoint_interval=2, device="cpu",
                progress=False)
    base.update(kw)
    return TrainConfig(**base)


def read(path: Path):
    return json.loads(path.read_text())


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def sid(angle: int, take: int) -> str:
    return f"plastic_deg{angle:03d}_500hz_{take:02d}"


def angle_of(sample_id: str) -> int:
    return int(sample_id.split("_deg")[1][:3])


def cli(argv: list[str], capsys) -> tuple[int, str]:
    """train.py's main() as the shell runs it: (exit code, stderr)."""
    with pytest.raises(SystemExit) as exc:
        run_cli(lambda: train_script.main(argv), "train.py")
    return exc.value.code, capsys.readouterr().err


def one_error_line(err: str, warnings: bool = False) -> str:
    """The one error line of stderr; with `warnings`, `WARNING: ...` log lines may come before it."""
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    if warnings:
        lines = [ln for ln in lines if not ln.startswith("WARNING: ")]
    assert len(lines) == 1, err
    assert lines[0].startswith("train.py: error: ")
    return lines[0]


def write_exclusions(path: Path, ids: list[str]) -> Path:
    path.write_text("# test exclusions\n" + "".join(f"{s}\n" for s in ids))
    return path


# --------------------------------------------------------------------------- model


def test_model_scores_one_recording_at_a_time_and_ignore_gain():
    torch.manual_seed(0)
    model = SimpleCNNAudioRanker(max_freq_bins=200).eval()
    gen = torch.Generator().manual_seed(1)
    specs = torch.randn(5, 1025, 188, generator=gen) * 2.0 - 6.0
    specs[2] *= 3.0  # one recording very unlike the others
    with torch.no_grad():
        batch = model(specs)
        alone = torch.cat([model(specs[i : i + 1]) for i in range(5)])
        reordered = model(specs[[4, 2, 0, 3, 1]])
        louder = model(specs + 2.5)  # +2.5 in log magnitude = x12 gain
        with_channel = model(specs.unsqueeze(1))
    assert batch.shape == (5,)
    torch.testing.assert_close(batch, alone, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(reordered, batch[[4, 2, 0, 3, 1]], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(louder, batch, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(with_channel, batch)
    assert batch.std() > 0  # the score does depend on the recording


def test_build_model_round_trip():
    model = SimpleCNNAudioRanker(max_freq_bins=100, channels=(4, 6, 5), hidden=7, freq_cells=3)
    again = build_model("SimpleCNNAudioRanker", json.loads(json.dumps(model.constructor_kwargs())))
    again.load_state_dict(model.state_dict(), strict=True)
    with pytest.raises(ValueError, match="unknown model class"):
        build_model("ResNet", {})
    with pytest.raises(ValueError, match="do not fit"):
        build_model("SimpleCNNAudioRanker", {"depth": 3})


# --------------------------------------------------------------------------- losses


def test_margin_loss_by_hand_and_derivative_against_autograd():
    margins = torch.tensor([2.0, 0.3, -0.5, 0.5, 1.0, 1.0], dtype=torch.float64)
    targets = torch.tensor([1.0, 1.0, 1.0, -1.0, -1.0, 1.0], dtype=torch.float64)
    loss = MarginRankingPairLoss(margin=1.0)
    # max(0, 1 - y s): the last pair sits exactly on the margin.
    expected = [0.0, 0.7, 1.5, 1.5, 2.0, 0.0]
    torch.testing.assert_close(loss.pair_losses(margins, targets), torch.tensor(expected, dtype=torch.float64))
    torch.testing.assert_close(
        MarginRankingPairLoss(margin=0.5).pair_losses(margins, targets),
        torch.tensor([0.0, 0.2, 1.0, 1.0, 1.5, 0.0], dtype=torch.float64),
    )
    m = margins.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss.pair_losses(m, targets).sum(), m)
    torch.testing.assert_close(loss.margin_derivative(margins, targets), grad)
    torch.testing.assert_close(grad, torch.tensor([0.0, -1.0, -1.0, 1.0, 1.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(loss.margin_derivative(margins, targets, weighted=False), grad)
    with pytest.raises(ValueError, match="margin"):
        MarginRankingPairLoss(margin=-1.0)


def margins_for(g: list[float], y: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Margins whose GHM gradient norm sigmoid(-y s) is `g`: s = -y * logit(g)."""
    g_t = torch.tensor(g, dtype=torch.float64)
    y_t = torch.tensor(y, dtype=torch.float64)
    return -y_t * torch.log(g_t / (1 - g_t)), y_t


def test_ghm_weights_by_hand():
    """bins 4 ([0, .25), [.25, .5), [.5, .75), [.75, 1]), alpha 0.5, momentum 0.75."""
    loss = GHMPairLoss(bins=4, alpha=0.5, momentum=0.75)

    # Step 1: g = .1, .15, .2, .6, .9 -> bins 0, 0, 0, 2, 3; counts [3, 0, 1, 1].
    # First visit of every bin: D = counts = [3, 0, 1, 1].
    # Raw weights D^-0.5: 1/sqrt(3) (x3), 1, 1; mean (sqrt(3) + 2) / 5 = 0.746410...
    m1, y1 = margins_for([0.1, 0.15, 0.2, 0.6, 0.9], [1, -1, 1, -1, 1])
    torch.testing.assert_close(loss.bin_index(m1, y1), torch.tensor([0, 0, 0, 2, 3]))
    w1 = loss.pair_losses(m1, y1, update=True) / loss.base_losses(m1, y1)
    expected1 = [0.7735026918962575] * 3 + [1.3397459621556136] * 2
    torch.testing.assert_close(w1, torch.tensor(expected1, dtype=torch.float64))
    torch.testing.assert_close(loss.density, torch.tensor([3.0, 0.0, 1.0, 1.0], dtype=torch.float64))

    # Step 2: g = .05, .3, .35, .7 -> bins 0, 1, 1, 2; counts [1, 2, 1, 0].
    # bin 0: .75 * 3 + .25 * 1 = 2.5; bin 1 first visit: 2; bin 2: .75 * 1 + .25 * 1 = 1;
    # bin 3 holds no pair this step and keeps 1.   D = [2.5, 2, 1, 1].
    # Raw: 2.5^-.5 = .632456, 2^-.5 = .707107 (x2), 1; mean .761667.
    m2, y2 = margins_for([0.05, 0.3, 0.35, 0.7], [-1, 1, 1, -1])
    w2 = loss.weights(m2, y2, update=True)
    expected2 = [0.8303567108023246, 0.928367025463566, 0.928367025463566, 1.3129092382705434]
    torch.testing.assert_close(w2, torch.tensor(expected2, dtype=torch.float64))
    torch.testing.assert_close(loss.density, torch.tensor([2.5, 2.0, 1.0, 1.0], dtype=torch.float64))
    assert abs(float(w2.mean()) - 1.0) < 1e-12

    # No update (TracIn at a checkpoint): g = .8, .4, .1 -> bins 3, 1, 0 use the saved D.
    # Raw: 1, 2^-.5, 2.5^-.5; mean .779774.
    m3, y3 = margins_for([0.8, 0.4, 0.1], [1, 1, -1])
    w3 = loss.weights(m3, y3)
    torch.testing.assert_close(
        w3, torch.tensor([1.2822911290064063, 0.906716752775784, 0.8109921182178096], dtype=torch.float64)
    )
    torch.testing.assert_close(loss.density, torch.tensor([2.5, 2.0, 1.0, 1.0], dtype=torch.float64))
    # The state survives a round trip.
    other = GHMPairLoss(bins=4, alpha=0.5, momentum=0.75)
    other.load_state_dict(loss.state_dict())
    torch.testing.assert_close(other.weights(m3, y3), w3)


def test_ghm_derivative_against_autograd():
    loss = GHMPairLoss(bins=4, alpha=0.75)
    gen = torch.Generator().manual_seed(0)
    margins = torch.randn(12, generator=gen, dtype=torch.float64) * 3
    targets = torch.where(torch.rand(12, generator=gen) > 0.5, 1.0, -1.0).double()
    loss.weights(margins[:7], targets[:7], update=True)  # some saved state
    # Base loss and derivative by hand at s = 0: softplus(0) = ln 2, -y sigmoid(0) = -y / 2.
    zero = torch.zeros(2, dtype=torch.float64)
    pm = torch.tensor([1.0, -1.0], dtype=torch.float64)
    torch.testing.assert_close(loss.base_losses(zero, pm), torch.full((2,), math.log(2), dtype=torch.float64))
    torch.testing.assert_close(loss.base_derivative(zero, pm), torch.tensor([-0.5, 0.5], dtype=torch.float64))

    m = margins.clone().requires_grad_(True)
    weights = loss.weights(margins, targets).detach()
    (grad,) = torch.autograd.grad(loss.pair_losses(m, targets).sum(), m)
    (grad_ref,) = torch.autograd.grad((weights * loss.base_losses(m, targets)).sum(), m)
    torch.testing.assert_close(grad, grad_ref)
    torch.testing.assert_close(loss.margin_derivative(margins, targets), grad_ref)
    (grad_plain,) = torch.autograd.grad(loss.base_losses(m, targets).sum(), m)
    torch.testing.assert_close(loss.margin_derivative(margins, targets, weighted=False), grad_plain)
    assert not torch.allclose(grad_ref, grad_plain)  # the weights matter


# --------------------------------------------------------------------------- train.py


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
    all_ids = sorted(s for n in SPLITS for s in split[n])
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
    for name in SPLITS:
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


def test_training_with_exclusions_and_ghm(baseline, data_root, tmp_path, capsys):
    split = read(baseline / "run.json")["split"]
    gone_train = next(s for s in split["train"] if angle_of(s) == 36)
    gone_hold = next(s for s in split["holdout"] if angle_of(s) == 108)
    excl = write_exclusions(tmp_path / "round1.txt", [gone_hold, gone_train])
    code, err = cli(["--frequency", "500hz", "--data-root", str(data_root), *FAST, "--loss-type", "ghm",
                     "--exclusions-file", str(excl)], capsys)
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
        other = train(cfg(data_root, loss_type="ghm", exclusions_file=str(excl), run_name="ghm_excl_noise"))
    finally:
        path.write_bytes(original)
    ckpt2 = load(other.run_dir / "model_checkpoint_epoch_3.pt")
    for k in ckpt["model_state"]:
        assert torch.equal(ckpt["model_state"][k], ckpt2["model_state"][k]), k
    assert read(other.run_dir / "scores.json")[gone_train] != scores[gone_train]


def test_existing_run_folder_is_kept(baseline, data_root, capsys):
    name = "keep_me"
    first = train(cfg(data_root, run_name=name, epochs=1)).run_dir
    before = {p.name: p.read_bytes() for p in first.iterdir()}
    proc = subprocess.run(
        [sys.executable, "train.py", "--frequency", "500hz", "--data-root", str(data_root), "--run-name", name,
         "--epochs", "1", "--device", "cpu", "--no-progress"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert proc.returncode == 1
    line = one_error_line(proc.stderr)
    assert str(first) in line and "--overwrite" in line
    assert {p.name: p.read_bytes() for p in first.iterdir()} == before

    code, _ = cli(["--frequency", "500hz", "--data-root", str(data_root), "--run-name", name, "--overwrite",
                   "--epochs", "2", "--checkpoint-interval", "1", "--device", "cpu", "--no-progress"], capsys)
    assert code == 0
    kept = [p for p in first.parent.iterdir() if p.name.startswith(name + ".old-")]
    assert len(kept) == 1
    assert {p.name: p.read_bytes() for p in kept[0].iterdir()} == before
    assert (first / "model_checkpoint_epoch_2.pt").is_file()
    assert read(first / "run.json")["config"]["epochs"] == 2


def test_exclusion_errors(baseline, data_root, tmp_path, capsys):
    split = read(baseline / "run.json")["split"]
    before = sorted(p.name for p in (data_root / "checkpoints").iterdir())
    args = ["--frequency", "500hz", "--data-root", str(data_root), *FAST]

    missing = tmp_path / "missing.txt"
    code, err = cli([*args, "--exclusions-file", str(missing)], capsys)
    assert code == 1
    assert str(missing) in one_error_line(err)

    # Both training recordings at 36 degrees.
    at36 = [s for s in split["train"] if angle_of(s) == 36]
    assert len(at36) == 2
    code, err = cli([*args, "--exclusions-file", str(write_exclusions(tmp_path / "all36.txt", at36))], capsys)
    assert code == 1
    assert "remove every train recording at angle(s) 36 degrees" in one_error_line(err)

    typo = sid(72, 3).replace("_03", "_3")  # plastic_deg072_500hz_3
    excl = write_exclusions(tmp_path / "typo.txt", [sid(0, 1), typo])
    code, err = cli([*args, "--exclusions-file", str(excl)], capsys)
    assert code == 1
    line = one_error_line(err, warnings=True)
    assert f"'{typo}' (closest: '{sid(72, 3)}')" in line and "--allow-unknown-exclusions" in line
    assert sorted(p.name for p in (data_root / "checkpoints").iterdir()) == before  # nothing was written

    code, err = cli([*args, "--exclusions-file", str(excl), "--allow-unknown-exclusions"], capsys)
    assert code == 0
    assert typo in err  # still warned about
    run = read(data_root / "checkpoints" / "plastic_500hz_standard_excl_typo" / "run.json")
    assert run["excluded_ids"] == [sid(0, 1)] and run["unknown_excluded_ids"] == [typo]


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_device_cuda_without_gpu_is_one_line(data_root):
    proc = subprocess.run(
        [sys.executable, "train.py", "--frequency", "500hz", "--data-root", str(data_root), "--device", "cuda",
         "--epochs", "1", "--run-name", "cuda_run", "--no-progress"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert proc.returncode == 1
    assert "--device cuda" in one_error_line(proc.stderr) and "no CUDA" in proc.stderr
    assert not (data_root / "checkpoints" / "cuda_run").exists()
