"""From a training run's checkpoints to TracIn files: the library behind compute_tracin_influence.py."""
from __future__ import annotations

import contextlib
import logging
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from datasets.audio_dataset import AudioSpectrumDataset
from datasets.config import resolve_data_root
from datasets.harmonics import dataset_profiles
from datasets.pairs import make_pairs
from influence.config import InfluenceConfig
from influence.fingerprint import K_CREATED, K_FINGERPRINT, run_fingerprint
from influence.data import InfluenceData
from influence.io import SCALE
from influence.outputs import (
    K_PAIR_SELF_INFLUENCE_MEAN,
    OutputPlan,
    ScratchMatrices,
    plan_outputs,
    record_sample_metadata,
    summarize,
    write_influence_outputs,
)
from influence.run_inputs import LoadedCheckpoint, load_run_checkpoints
from influence.harm import LowScores
from influence.summary import DEFAULT_PER_GROUP, pair_scores, recording_scores
from influence.task import checkpoint_spec, loss_for_checkpoint, resolve_loss_settings
from tqdm import tqdm
from tracin import PairSet, TracInEngine, distributed
from training.checkpoints import model_from_checkpoint
from training.config import TrainConfig
from utils.constants import METADATA_DIR, influence_file_name, metadata_file_name
from utils.device import select_device
from utils.locking import folder_lock
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
    """Run TracIn over a run's checkpoints and write the influence files and sample metadata.

    Under `torchrun` every process computes its share of the gradients; the Gram matrices are
    gathered, every process then holds the same results, and only the first one writes.
    """
    started = time.perf_counter()
    if not cfg.compute_influence and not cfg.compute_self_influence:
        raise ValueError("nothing to do: pass --compute-influence and/or --compute-self-influence")
    device = select_device(cfg.device)
    checkpoints = load_run_checkpoints(cfg.checkpoint_dir, cfg.checkpoint_prefix, cfg.epochs, cfg.every,
                                       cfg.allow_incomplete, cfg.assume_learning_rate)
    run = run_config(checkpoints[0], cfg)
    root = resolve_data_root(cfg.data_root, run.data_root, inside=cfg.checkpoint_dir, recorded_as="the run was trained on")
    metadata_dir = cfg.metadata_dir or root / METADATA_DIR
    writer = distributed.rank() == 0
    if writer:
        _check_writable(metadata_dir)  # before the data set registers its metadata there
    # One writer at a time in a metadata folder (under torchrun: the first process, the only writer).
    with folder_lock(metadata_dir, cfg.lock_timeout) if writer else contextlib.nullcontext():
        if writer:
            remove_stale_staging(metadata_dir)
        return _compute_locked(cfg, started, device, checkpoints, run, root, metadata_dir, writer)


def _compute_locked(
    cfg: InfluenceConfig, started: float, device: torch.device, checkpoints: list[LoadedCheckpoint],
    run: TrainConfig, root: Path, metadata_dir: Path, writer: bool,
) -> tuple[InfluenceData, dict[str, Any]]:
    """`compute_influence` once the metadata folder is locked."""
    first = checkpoints[0].data
    # The run's recordings and spectrogram settings; its exclusions come with the checkpoints' split.
    metadata_file = metadata_dir / metadata_file_name(run.material, run.frequency)
    dataset = AudioSpectrumDataset(
        run.dataset_config(data_root=root, exclusions_file=None, metadata_file=metadata_file), progress=cfg.progress,
        register=writer,
    )
    split = first["split"]
    excluded = set(first.get("excluded_ids", []))
    train = split_pairs(dataset, split["train"], excluded)
    val = split_pairs(dataset, split["validation"], excluded)
    if len(train) == 0 or len(val) == 0:
        raise ValueError("the run has no training or no validation pairs to score")

    # Sizes and free space are checked before the gradients: a shortfall stops the run at once.
    plan = plan_outputs(cfg, len(train), len(val), metadata_dir, writer, seed=int(first.get("seed") or 0))
    model = model_from_checkpoint(first, checkpoints[0].path)
    dtype = torch.float64 if cfg.double_precision else torch.float32
    engine = TracInEngine(model, dataset.spectrograms, train, val, device, dtype, cfg.batch_size, cfg.progress,
                          memory_budget=int(cfg.memory_mb * 2**20), projection_dim=cfg.projection_dim,
                          projection_seed=int(first.get("seed") or 0))
    settings = resolve_loss_settings(first, cfg)
    specs = []
    for ck in checkpoints:
        model_from_checkpoint(ck.data, ck.path)  # fails clearly on a foreign architecture
        loss = loss_for_checkpoint(ck.data, settings)
        specs.append(checkpoint_spec(ck.data["model_state"], ck.eta, loss, f"epoch {ck.epoch}", cfg.measurement))
    terms = engine.all_terms(specs)
    # Each recording's harmonic profile, read before the pages go: what the `profile` criterion judges.
    profiles = dataset_profiles(dataset, engine.used.numpy())
    dataset.release_pages()  # every gradient is taken

    train_ids = [s for s in sorted(split["train"]) if s not in excluded]
    rec_index = torch.tensor([dataset.index_of[s] for s in train_ids])
    scratch = ScratchMatrices(metadata_dir, len(train), len(val)) if plan.dense else None
    try:
        data = _summaries(cfg, engine, terms, [ck.epoch for ck in checkpoints], dataset, rec_index, plan, scratch)
        data.profile_levels, data.profile_floors = profiles
        fingerprint = run_fingerprint(
            checkpoints, split, excluded,
            {sid: dataset.file_sha256[dataset.index_of[sid]] for members in split.values() for sid in members
             if sid in dataset.index_of},
            {"type": settings.loss_type, "config": settings.config, "saved_state": settings.use_saved_state,
             "measurement": cfg.measurement, "projection_dim": cfg.projection_dim, "keep_lowest": plan.keep_lowest},
        )
        data.info = {
            K_FINGERPRINT: fingerprint,
            K_CREATED: datetime.now().isoformat(timespec="seconds"),
            "config": cfg.to_dict(),
            "data_root": str(root.resolve()),
            "seed": first.get("seed"),
            "run_config": run.to_dict(),
            "checkpoints": [c.record() for c in checkpoints],
            "loss_type": settings.loss_type,
            "loss_config": settings.config,
            "measurement": cfg.measurement,
            "scale": SCALE,
            "validation_pairs_scored": plan.describe_columns(len(val)),
            "projection": None if cfg.projection_dim is None else {"dim": cfg.projection_dim, "kind": "CountSketch"},
            "processes": distributed.world_size(),
            "device": str(device),
            "dtype": str(dtype).replace("torch.", ""),
        }
        summary = summarize(data, terms, cfg)
        summary["seconds"] = round(time.perf_counter() - started, 2)
        data.info["summary"] = summary
        if not writer:
            return data, data.info
        json_path = metadata_dir / influence_file_name(cfg.material, cfg.frequency)
        record_sample_metadata(dataset.metadata, split, data, fingerprint)
        written = write_influence_outputs(json_path, data, data.info, dataset.metadata, cfg.compute_influence,
                                          cfg.write_json)
        data.info["influence_file"] = str(json_path)
        data.info.update({k: str(written[k]) for k in ("picture", "metadata_backup") if k in written})
        return data, data.info
    finally:
        if scratch is not None:
            scratch.remove()  # the mappings stay readable while `data` holds them


def _summaries(cfg: InfluenceConfig, engine: TracInEngine, terms: list, epochs: list[int],
               dataset: AudioSpectrumDataset, rec_index: torch.Tensor, plan: OutputPlan,
               scratch: ScratchMatrices | None) -> InfluenceData:
    """Everything the influence files hold, from the engine's checkpoint terms (one per epoch of `epochs`)."""
    used = engine.used
    angles = torch.from_numpy(dataset.angles)[used]
    P = len(engine.train_local)
    if cfg.compute_influence:
        with tqdm(total=P, desc="pair scores", unit="pair", disable=not cfg.progress, leave=False) as bar:
            pairs = pair_scores(engine, terms, angles, plan.keep_lowest, DEFAULT_PER_GROUP, plan.seed,
                                int(cfg.memory_mb * 2**20), plan.columns, scratch.sink if scratch else None, bar.update)
    else:  # self-influence only: no pair scores
        pairs = LowScores(np.zeros((P, 0), np.float32), np.zeros((P, 0), np.int64), np.zeros(P), 0)
    rec = recording_scores(engine, terms, rec_index, torch.from_numpy(dataset.angles)[rec_index], plan.keep_lowest,
                           int(cfg.memory_mb * 2**20), plan.columns)
    local = engine.position[rec_index]
    return InfluenceData(
        sample_ids=[dataset.sample_ids[i] for i in used.tolist()],
        angles=angles.numpy(),
        train_pairs=engine.train_local.cpu().numpy(),
        val_pairs=engine.test_local.cpu().numpy(),
        recordings=local.numpy(),
        pair_low_z=pairs.low, pair_low_idx=pairs.index, pair_mean_z=pairs.mean,
        rec_low_z=rec.low, rec_low_idx=rec.index, rec_mean_z=rec.mean,
        rec_total=rec.total, rec_self_influence=rec.self_influence,
        pair_self_influence=engine.pair_self_influence(terms).double().numpy(),
        checkpoint_scores=torch.stack([t.scores.cpu()[local] for t in terms]).double().numpy(),
        checkpoint_epochs=np.asarray(epochs),
        influence=None if scratch is None else scratch.raw,
        influence_z=None if scratch is None else scratch.z,
    )


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(f"cannot create metadata folder {folder}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"metadata folder {folder} cannot be written")
