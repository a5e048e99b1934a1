"""From a training run's checkpoints to TracIn files: the library behind compute_tracin_influence.py."""
from __future__ import annotations

import logging
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from datasets.audio_dataset import AudioSpectrumDataset
from datasets.config import resolve_data_root
from datasets.pairs import make_pairs
from influence.config import InfluenceConfig
from influence.fingerprint import K_CREATED, K_FINGERPRINT, run_fingerprint
from influence.io import InfluenceData
from influence.outputs import K_PAIR_SELF_INFLUENCE_MEAN, record_sample_metadata, write_influence_outputs
from influence.run_inputs import LoadedCheckpoint, load_run_checkpoints
from influence.stats import summarize
from influence.task import checkpoint_spec, loss_for_checkpoint, resolve_loss_settings
from tracin import PairSet, TracInEngine
from training.checkpoints import model_from_checkpoint
from training.config import TrainConfig
from utils.constants import METADATA_DIR, influence_file_name, metadata_file_name
from utils.device import select_device
from utils.staging import remove_stale_staging

log = logging.getLogger(__name__)

__all__ = ["K_PAIR_SELF_INFLUENCE_MEAN", "LoadedCheckpoint", "compute_influence", "load_run_checkpoints", "split_pairs"]


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
    checkpoints = load_run_checkpoints(cfg.checkpoint_dir, cfg.checkpoint_prefix, cfg.epochs, cfg.every,
                                       cfg.allow_incomplete, cfg.assume_learning_rate)
    first = checkpoints[0].data
    run = run_config(checkpoints[0], cfg)
    root = resolve_data_root(cfg.data_root, run.data_root, inside=cfg.checkpoint_dir, recorded_as="the run was trained on")
    metadata_dir = cfg.metadata_dir or root / METADATA_DIR
    _check_writable(metadata_dir)  # before the data set registers its metadata there
    remove_stale_staging(metadata_dir)
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
        fingerprint = run_fingerprint(
            checkpoints, split, excluded,
            {sid: dataset.file_sha256[dataset.index_of[sid]] for members in split.values() for sid in members
             if sid in dataset.index_of},
            {"type": settings.loss_type, "config": settings.config, "saved_state": settings.use_saved_state},
        )
        info = {
            K_FINGERPRINT: fingerprint,
            K_CREATED: datetime.now().isoformat(timespec="seconds"),
            "config": cfg.to_dict(),
            "data_root": str(root.resolve()),
            "seed": first.get("seed"),
            "run_config": run.to_dict(),
            "checkpoints": [c.record() for c in checkpoints],
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
        record_sample_metadata(dataset.metadata, split, data.train_pairs, pair_self, train_ids,
                               data.recording_self_influence, fingerprint)
        written = write_influence_outputs(json_path, data, info, dataset.metadata, cfg.compute_influence,
                                          cfg.write_json, summary.get("suggested_threshold"))
        info["influence_file"] = str(json_path)
        if "picture" in written:
            info["picture"] = str(written["picture"])
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


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(f"cannot create metadata folder {folder}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"metadata folder {folder} cannot be written")
