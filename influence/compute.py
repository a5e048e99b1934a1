"""From a training run's checkpoints to TracIn files: the library behind compute_tracin_influence.py."""
from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from datasets.audio_dataset import AudioSpectrumDataset
from datasets.config import resolve_data_root
from datasets.pairs import make_pairs
from influence.config import InfluenceConfig
from influence.io import InfluenceData, save_influence
from influence.plots import plot_influence_distribution
from influence.stats import summarize
from influence.task import checkpoint_spec, loss_for_checkpoint, resolve_loss_settings
from tracin import PairSet, TracInEngine
from training.checkpoints import checkpoint_learning_rate, list_checkpoints, load_checkpoint, model_from_checkpoint
from training.config import TrainConfig
from utils.atomic_io import write_json_atomic
from utils.constants import (
    K_SELF_INFLUENCE,
    K_SPLIT,
    METADATA_DIR,
    influence_file_name,
    influence_plot_path_for,
    influence_run_path_for,
    metadata_file_name,
)
from utils.device import select_device

log = logging.getLogger(__name__)

K_PAIR_SELF_INFLUENCE_MEAN = "tracin_pair_self_influence_mean"


@dataclass
class LoadedCheckpoint:
    epoch: int
    path: Path
    data: dict[str, Any]
    eta: float


def load_run_checkpoints(folder: str | Path, prefix: str) -> list[LoadedCheckpoint]:
    """All checkpoints of one run, by epoch; they must share architecture, split and exclusions."""
    loaded = []
    for epoch, path in list_checkpoints(folder, prefix):
        data = load_checkpoint(path)
        loaded.append(LoadedCheckpoint(epoch, path, data, checkpoint_learning_rate(data, path)))
    first = loaded[0].data
    for ck in loaded[1:]:
        for key in ("model_class", "model_kwargs", "split", "excluded_ids"):
            if ck.data.get(key) != first.get(key):
                raise ValueError(f"{ck.path} differs from {loaded[0].path} in {key}: checkpoints of different runs?")
    if "split" not in first:
        raise ValueError(f"{loaded[0].path} stores no train/validation split; retrain with this toolkit's train.py")
    return loaded


def run_config(checkpoint: LoadedCheckpoint, cfg: InfluenceConfig) -> TrainConfig:
    """The run's configuration, as its first checkpoint stores it; it must be of the asked material and frequency."""
    try:
        run = TrainConfig.from_dict(checkpoint.data.get("config", {}))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{checkpoint.path}: unreadable run configuration ({exc})") from None
    if (run.material, run.frequency) != (cfg.material, cfg.frequency):
        raise ValueError(
            f"the checkpoints were trained on {run.material} {run.frequency}, not {cfg.material} {cfg.frequency}"
        )
    return run


def split_pairs(dataset: AudioSpectrumDataset, ids: list[str], excluded: set[str]) -> PairSet:
    """The pairs among a split's recordings (by sample id) that the run trained or judged on."""
    missing = [s for s in ids if s not in dataset.index_of]
    if missing:
        raise ValueError(f"{len(missing)} recording(s) of the run's split are not in the data, e.g. {missing[0]}")
    pairs, targets = make_pairs([dataset.index_of[s] for s in sorted(ids) if s not in excluded], dataset.angles)
    return PairSet(torch.from_numpy(pairs), torch.from_numpy(targets))


def compute_influence(cfg: InfluenceConfig) -> tuple[InfluenceData, dict[str, Any]]:
    """Run TracIn over a run's checkpoints and write the influence files and sample metadata."""
    started = time.perf_counter()
    if not cfg.compute_influence and not cfg.compute_self_influence:
        raise ValueError("nothing to do: pass --compute-influence and/or --compute-self-influence")
    device = select_device(cfg.device)
    checkpoints = load_run_checkpoints(cfg.checkpoint_dir, cfg.checkpoint_prefix)
    first = checkpoints[0].data
    run = run_config(checkpoints[0], cfg)
    root = resolve_data_root(cfg.data_root, run.data_root, inside=cfg.checkpoint_dir)
    metadata_dir = cfg.metadata_dir or root / METADATA_DIR
    _check_writable(metadata_dir)  # before the data set registers its metadata there
    # The run's recordings and spectrogram settings; its exclusions come with the checkpoints' split.
    metadata_file = metadata_dir / metadata_file_name(run.material, run.frequency)
    dataset = AudioSpectrumDataset(
        run.dataset_config(data_root=root, exclusions_file=None, metadata_file=metadata_file), progress=cfg.progress
    )

    split = first["split"]
    excluded = set(first.get("excluded_ids", []))
    train = split_pairs(dataset, split["train"], excluded)
    val = split_pairs(dataset, split["validation"], excluded)
    if len(train) == 0 or len(val) == 0:
        raise ValueError("the run has no training or no validation pairs to score")

    model = model_from_checkpoint(first, checkpoints[0].path)
    dtype = torch.float64 if cfg.double_precision else torch.float32
    engine = TracInEngine(model, dataset.spectrograms, train, val, device, dtype, cfg.batch_size, cfg.progress)
    settings = resolve_loss_settings(first, cfg)
    specs = []
    for ck in checkpoints:
        model_from_checkpoint(ck.data, ck.path)  # fails clearly on a foreign architecture
        loss = loss_for_checkpoint(ck.data, settings)
        specs.append(checkpoint_spec(ck.data["model_state"], ck.eta, loss, f"epoch {ck.epoch}"))
    terms = engine.all_terms(specs)

    scratch = None
    try:
        if cfg.compute_influence:
            influence, scratch = influence_to_disk(engine, terms, metadata_dir, cfg.block_rows)
        else:
            influence = np.zeros((len(train), len(val)))  # lazily allocated pages: never touched
        train_ids = [s for s in sorted(split["train"]) if s not in excluded]
        rec_index = torch.tensor([dataset.index_of[s] for s in train_ids])
        rec_influence, rec_self = engine.recording_influence(terms, rec_index)
        pair_self = engine.pair_self_influence(terms).double().numpy()
        ids = dataset.sample_ids
        info = {
            "config": cfg.to_dict(),
            "data_root": str(root.resolve()),
            "seed": first.get("seed"),
            "run_config": run.to_dict(),
            "checkpoints": [{"epoch": c.epoch, "path": str(c.path), "eta": c.eta} for c in checkpoints],
            "loss_type": settings.loss_type,
            "loss_config": settings.config,
            "device": str(device),
            "dtype": str(dtype).replace("torch.", ""),
        }
        data = InfluenceData(
            train_pairs=[(ids[i], ids[j]) for i, j in train.pairs.tolist()],
            val_pairs=[(ids[i], ids[j]) for i, j in val.pairs.tolist()],
            influence=influence,
            train_pair_self_influence=pair_self,
            recording_ids=train_ids,
            recording_influence=rec_influence.double().numpy(),
            recording_self_influence=rec_self.double().numpy(),
            info=info,
        )
        train_zero = int(torch.stack([t.train_deriv == 0 for t in terms]).all(dim=0).sum())
        test_zero = int(torch.stack([t.test_deriv == 0 for t in terms]).all(dim=0).sum())
        summary = summarize(data, train_zero, test_zero) if cfg.compute_influence else {}
        summary["seconds"] = round(time.perf_counter() - started, 2)
        info["summary"] = summary

        json_path = metadata_dir / influence_file_name(cfg.material, cfg.frequency)
        if cfg.compute_influence:
            save_influence(json_path, data, write_json=cfg.write_json)
        write_json_atomic(influence_run_path_for(json_path), info)
        _write_sample_metadata(dataset, split, train, pair_self, train_ids, rec_self.double().numpy())
        info["influence_file"] = str(json_path)
        if cfg.compute_influence:
            picture = influence_plot_path_for(json_path)
            info["picture"] = str(plot_influence_distribution(data, picture, summary.get("suggested_threshold")))
        return data, info
    finally:
        if scratch is not None:
            scratch.unlink(missing_ok=True)  # the mapping stays readable while `data` holds it


def influence_to_disk(
    engine: TracInEngine, terms: list, folder: Path, block_rows: int
) -> tuple[np.memmap, Path]:
    """The (P, Q) TracIn matrix, written block by block into a memory-mapped scratch .npy in
    `folder`: memory holds one block, however large the matrix. Returns the map and its file."""
    fd, name = tempfile.mkstemp(prefix=".influence-scratch.", suffix=".npy", dir=folder)
    os.close(fd)
    path = Path(name)
    try:
        matrix = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64,
                                           shape=(len(engine.train_local), len(engine.test_local)))
        for rows, block in engine.influence_blocks(terms, block_rows):
            matrix[rows] = block.double().cpu().numpy()
        matrix.flush()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return matrix, path


def _write_sample_metadata(dataset, split, train: PairSet, pair_self: np.ndarray, train_ids, rec_self: np.ndarray) -> None:
    """Record each recording's split and, for training recordings, its self-influence."""
    store = dataset.metadata
    membership = {sid: name for name, members in split.items() for sid in members}
    for sid in dataset.sample_ids:
        if sid in membership:
            store.update(sid, **{K_SPLIT: membership[sid]})
    pair_sum = np.zeros(len(dataset.sample_ids))
    pair_count = np.zeros(len(dataset.sample_ids))
    for col in (0, 1):
        np.add.at(pair_sum, train.pairs[:, col].numpy(), pair_self)
        np.add.at(pair_count, train.pairs[:, col].numpy(), 1)
    for sid, value in zip(train_ids, rec_self):
        k = dataset.index_of[sid]
        store.update(sid, **{K_SELF_INFLUENCE: float(value), K_PAIR_SELF_INFLUENCE_MEAN: float(pair_sum[k] / max(pair_count[k], 1))})
    store.save()


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(f"cannot create metadata folder {folder}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"metadata folder {folder} cannot be written")
