"""`compute_influence` on a tiny trained run: the files it writes, the data root it finds, and
scores that match a plain autograd loop. The engine's math is tested in test_tracin_engine.py;
here a few entries are checked to be sure the right checkpoints, learning rates, pairs and
loss reach it."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import compute_tracin_influence as cti
from datasets import AudioSpectrumDataset, DatasetConfig, make_pairs
from influence.compute import compute_influence
from influence.config import InfluenceConfig
from influence.io import load_influence, recorded_data_root
from models import build_model
from training.config import TrainConfig
from training.trainer import train
from utils.constants import CHECKPOINT_PREFIX as PREFIX
from datasets.sample_id import angle_of
from utils.constants import INFLUENCE_KEY_PREFIX, K_SELF_INFLUENCE, K_SPLIT, matrix_path_for

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def run(data_root, baseline) -> dict:
    """A 3-epoch run (a checkpoint each epoch) with one training recording excluded, then the
    script itself, as a user runs it."""
    split = json.loads((baseline / "run.json").read_text())["split"]
    excluded = split["train"][3]
    excl = data_root.parent / "excl.txt"
    excl.write_text(f"{excluded}\n")
    result = train(TrainConfig(frequency="500hz", data_root=data_root, epochs=3, checkpoint_interval=1,
                               exclusions_file=excl, device="cpu", progress=False))
    proc = subprocess.run(
        [sys.executable, "compute_tracin_influence.py", "--frequency", "500hz", "--material", "plastic",
         "--checkpoint-dir", str(result.run_dir), "--checkpoint-prefix", PREFIX, "--compute-influence",
         "--no-progress"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return {"dir": result.run_dir, "split": split, "excluded": excluded, "stdout": proc.stdout, "stderr": proc.stderr,
            "meta": data_root / "metadata"}


def base_args(checkpoint_dir: Path, *extra: str) -> list[str]:
    return ["--frequency", "500hz", "--checkpoint-dir", str(checkpoint_dir), "--compute-influence", "--no-progress",
            *extra]


def load_ckpt(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def id_pairs(ids: list[str]) -> list[tuple[str, str]]:
    """Expected pairs of a split's surviving recordings: sorted ids, `make_pairs` order."""
    pairs, _ = make_pairs(range(len(ids)), [angle_of(s) for s in ids])
    return [(ids[i], ids[j]) for i, j in pairs]


def test_writes_nested_json_matrix_and_run_file(run):
    meta = run["meta"]
    json_path = meta / "plastic_500hz_influence_metadata.json"
    assert matrix_path_for(json_path) == meta / "plastic_500hz_influence_matrix.npz"
    assert matrix_path_for(json_path).is_file()
    assert (meta / "plastic_500hz_influence_distribution.png").is_file()
    assert "plastic_500hz_influence_metadata.json" in run["stdout"]

    train_ids = sorted(s for s in run["split"]["train"] if s != run["excluded"])
    val_ids = sorted(run["split"]["validation"])
    expected_train = id_pairs(train_ids)
    expected_val = id_pairs(val_ids)
    assert len(expected_train) == 11 * 10 // 2 - 5 and len(expected_val) == 15

    nested = json.loads(json_path.read_text())
    assert list(nested) == [f"{a}_{b}" for a, b in expected_train]
    val_keys = [f"{INFLUENCE_KEY_PREFIX}{a}_{b}" for a, b in expected_val]
    for row in nested.values():
        assert list(row) == val_keys
        assert all(isinstance(v, float) for v in row.values())

    data = load_influence(json_path)
    assert data.pair_ids(data.train_pairs) == [f"{a}_{b}" for a, b in expected_train]
    assert data.val_pair_ids == [f"{a}_{b}" for a, b in expected_val]
    # The nested JSON holds the standardised scores; the npz keeps the raw TracIn beside them.
    dense = np.array([[nested[f"{a}_{b}"][k] for k in val_keys] for a, b in expected_train])
    np.testing.assert_allclose(data.influence_z, dense, rtol=1e-6)
    assert np.any(data.influence != 0) and not np.allclose(data.influence, data.influence_z)
    assert data.recording_ids == train_ids
    assert data.checkpoint_scores.shape == (3, len(train_ids)) and data.checkpoint_epochs.tolist() == [1, 2, 3]

    assert recorded_data_root(json_path) == run["meta"].parent.resolve()  # for the next step
    info = json.loads((meta / "plastic_500hz_influence_run.json").read_text())
    assert [c["epoch"] for c in info["checkpoints"]] == [1, 2, 3]
    for c in info["checkpoints"]:
        assert Path(c["path"]).name == f"{PREFIX}_{c['epoch']}.pt"
        assert c["eta"] == load_ckpt(run["dir"] / f"{PREFIX}_{c['epoch']}.pt")["learning_rate"]
    etas = [c["eta"] for c in info["checkpoints"]]
    assert etas[0] > etas[1] > etas[2]  # the cosine schedule, in epoch order
    assert info["loss_type"] == "standard" and info["measurement"] == "margin" and "robust z" in info["scale"]

    records = json.loads((meta / "plastic_500hz_metadata.json").read_text())
    assert len(records) == 24
    for sid, record in records.items():
        if sid in train_ids:
            assert record[K_SPLIT] == "train"
            k = train_ids.index(sid)
            assert record[K_SELF_INFLUENCE] == pytest.approx(data.rec_self_influence[k], rel=1e-12)
            assert record[K_SELF_INFLUENCE] > 0
        else:
            assert K_SELF_INFLUENCE not in record, sid
    assert records[run["excluded"]][K_SPLIT] == "train"
    assert {r[K_SPLIT] for s, r in records.items() if s in val_ids} == {"validation"}


def test_scores_match_a_plain_autograd_loop(run, data_root):
    """TracIn(p, q) = sum_c eta_c <grad l_p, grad L_q>, and self(p) = sum_c eta_c |grad l_p|^2, with the trained
    margin loss l on the training side and the default measurement, the margin L = -y s, on the validation side."""
    data = load_influence(run["meta"] / "plastic_500hz_influence_metadata.json")
    ds = AudioSpectrumDataset(DatasetConfig(data_root=data_root, use_cache=True), progress=False, register=False)
    specs = ds.spectrograms.double()
    checkpoints = [load_ckpt(run["dir"] / f"{PREFIX}_{e}.pt") for e in (1, 2, 3)]

    def pair_grad(model, a: str, b: str, measurement: bool = False, margin: float = 1.0) -> torch.Tensor:
        x = specs[[ds.index_of[a], ds.index_of[b]]]
        y = 1.0 if angle_of(a) > angle_of(b) else -1.0
        scores = model(x)
        s = scores[0] - scores[1]
        loss = -y * s if measurement else torch.relu(margin - y * s)
        grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
        return torch.cat([(g if g is not None else torch.zeros_like(p)).ravel()
                          for g, p in zip(grads, model.parameters())])

    rng = np.random.default_rng(0)
    cells = [(int(p), int(q)) for p, q in zip(rng.integers(0, len(data.train_pairs), 4),
                                              rng.integers(0, len(data.val_pairs), 4))]
    ids = data.sample_ids
    expected = np.zeros(len(cells))
    expected_self = np.zeros(len(cells))
    for ck in checkpoints:
        model = build_model(ck["model_class"], ck["model_kwargs"]).double()
        model.load_state_dict(ck["model_state"])
        model.eval()
        for n, (p, q) in enumerate(cells):
            gp = pair_grad(model, *(ids[i] for i in data.train_pairs[p]))
            gq = pair_grad(model, *(ids[i] for i in data.val_pairs[q]), measurement=True)
            expected[n] += ck["learning_rate"] * float(gp @ gq)
            expected_self[n] += ck["learning_rate"] * float(gp @ gp)
    got = np.array([data.influence[p, q] for p, q in cells])
    got_self = np.array([data.pair_self_influence[p] for p, _ in cells])
    scale = np.abs(data.influence).max()
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4 * scale)
    np.testing.assert_allclose(got_self, expected_self, rtol=1e-3, atol=1e-4 * np.abs(got_self).max())


def test_checkpoints_in_epoch_order_and_batch_size_does_not_matter(data_root, tmp_path, cli):
    result = train(TrainConfig(frequency="500hz", data_root=data_root, epochs=10, checkpoint_interval=2,
                               run_name="long", device="cpu", progress=False))
    run_dir = result.run_dir
    assert sorted(p.name for p in run_dir.glob("*.pt"))[:2] == [f"{PREFIX}_10.pt", f"{PREFIX}_2.pt"]  # as strings
    results = {}
    for batch in (1, 16):
        meta = tmp_path / f"meta_b{batch}"
        code, _, err = cli(cti, base_args(run_dir, "--metadata-dir", str(meta), "--batch-size", str(batch)))
        assert code == 0, err
        info = json.loads((meta / "plastic_500hz_influence_run.json").read_text())
        assert [c["epoch"] for c in info["checkpoints"]] == [2, 4, 6, 8, 10]
        history = json.loads((run_dir / "history.json").read_text())
        assert [c["eta"] for c in info["checkpoints"]] == [history[e - 1]["learning_rate"] for e in (2, 4, 6, 8, 10)]
        results[batch] = (load_influence(meta / "plastic_500hz_influence_metadata.json"),
                          json.loads((meta / "plastic_500hz_metadata.json").read_text()))
    (d1, m1), (d16, m16) = results[1], results[16]
    assert np.array_equal(d1.train_pairs, d16.train_pairs) and np.array_equal(d1.val_pairs, d16.val_pairs)
    scale = np.abs(d1.influence).max()
    assert scale > 0
    np.testing.assert_allclose(d1.influence, d16.influence, rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(d1.rec_self_influence, d16.rec_self_influence, rtol=1e-5)
    train_ids = d1.recording_ids
    np.testing.assert_allclose([m1[s][K_SELF_INFLUENCE] for s in train_ids],
                               [m16[s][K_SELF_INFLUENCE] for s in train_ids], rtol=1e-5)


def test_margin_override_warns(run, tmp_path, cli):
    meta = tmp_path / "meta"
    code, _, err = cli(cti, base_args(run["dir"], "--metadata-dir", str(meta), "--margin", "0.001"))
    assert code == 0, err
    warnings = [ln for ln in err.splitlines() if ln.startswith("WARNING:") and "margin" in ln]
    assert len(warnings) == 1 and "1.0 -> 0.001" in warnings[0]  # once, not once per checkpoint
    # The override is used: with so small a margin only misranked pairs have a gradient.
    ours = load_influence(meta / "plastic_500hz_influence_metadata.json").influence
    theirs = load_influence(run["meta"] / "plastic_500hz_influence_metadata.json").influence
    assert not np.allclose(ours, theirs)


def test_a_moved_data_folder_is_found_beside_its_checkpoints(tmp_path, make_data, cli):
    """The run stores the absolute data root it trained on; after the folder moves, the data
    root is the one that holds checkpoints/<run>/."""
    old = tmp_path / "old" / "data"
    make_data(old, takes=3, seed=2)
    train(TrainConfig(frequency="500hz", data_root=old, epochs=1, device="cpu", progress=False))
    new = tmp_path / "new" / "data"
    shutil.move(str(old.parent), str(new.parent))
    code, _, err = cli(cti, base_args(new / "checkpoints" / "plastic_500hz_standard"))
    assert code == 0, err
    assert (new / "metadata" / "plastic_500hz_influence_metadata.json").is_file()


def test_a_copied_data_folder_is_the_one_written(run, data_root, tmp_path, cli):
    """Checkpoints in a copy of the data folder: the copy is used (and written), with one line saying so;
    --data-root chooses explicitly."""
    copy = tmp_path / "copy"
    shutil.copytree(data_root, copy, ignore=shutil.ignore_patterns("metadata", ".spectrogram_cache"))
    before = {p.name: p.stat().st_mtime_ns for p in (data_root / "metadata").iterdir()}
    code, _, err = cli(cti, base_args(copy / "checkpoints" / run["dir"].name))
    assert code == 0, err
    assert (copy / "metadata" / "plastic_500hz_influence_metadata.json").is_file()
    assert {p.name: p.stat().st_mtime_ns for p in (data_root / "metadata").iterdir()} == before
    said = [ln for ln in err.splitlines() if "using data root" in ln]
    assert len(said) == 1 and str(copy) in said[0] and "the run was trained on " + str(data_root.resolve()) in said[0]
    assert "--data-root" in said[0]
    assert recorded_data_root(copy / "metadata" / "plastic_500hz_influence_metadata.json") == copy.resolve()


def test_matrix_streams_through_a_scratch_file_that_is_removed(run, tmp_path):
    """A tiny memory budget (one row per block) gives the same scores; the scratch maps are gone after."""
    meta = tmp_path / "meta"
    cfg = InfluenceConfig(frequency="500hz", material="plastic", checkpoint_dir=run["dir"],
                          metadata_dir=meta, memory_mb=1, device="cpu", progress=False)
    data = compute_influence(cfg).data
    reference = load_influence(run["meta"] / "plastic_500hz_influence_metadata.json")
    assert np.allclose(np.asarray(data.influence), reference.influence, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(data.pair_low_z, reference.pair_low_z, rtol=1e-5, atol=1e-5)
    assert not list(meta.glob(".influence-scratch*"))


def test_large_runs_keep_summaries_only_and_sample_validation_pairs(run, tmp_path, cli):
    """Without the dense matrix the npz keeps each pair's lowest scores, the same as the dense run's;
    above --max-cells the pair scores count on a seeded sample of the validation pairs."""
    meta = tmp_path / "meta"
    code, out, err = cli(cti, base_args(run["dir"], "--metadata-dir", str(meta), "--no-dense"))
    assert code == 0, err
    small = load_influence(meta / "plastic_500hz_influence_metadata.json")
    full = load_influence(run["meta"] / "plastic_500hz_influence_metadata.json")
    assert small.influence is None and small.influence_z is None
    np.testing.assert_allclose(small.pair_low_z, full.pair_low_z, rtol=1e-5, atol=1e-5)
    assert "nested JSON: harmful pairs only" in out
    sampled = tmp_path / "sampled"
    code, out, err = cli(cti, base_args(run["dir"], "--metadata-dir", str(sampled), "--max-cells", "500",
                                        "--keep-lowest", "8"))
    assert code == 0, err
    info = json.loads((sampled / "plastic_500hz_influence_run.json").read_text())
    assert info["validation_pairs_scored"] == {"scored": 10, "of": 15, "sample": True}  # 500 cells / 50 pairs
    assert "seeded sample of 10 of 15 validation pairs" in out
    data = load_influence(sampled / "plastic_500hz_influence_metadata.json")
    assert len(np.unique(data.pair_low_idx)) == 10 and data.influence is None
    # The recording scores count on the same sample; their totals stay exact over all 15.
    assert set(np.unique(data.rec_low_idx)) <= set(np.unique(data.pair_low_idx))
    np.testing.assert_allclose(data.rec_total, full.rec_total, rtol=1e-4)
