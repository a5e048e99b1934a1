"""From a training run's checkpoints to TracIn files: the library behind compute_tracin_influence.py."""
from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

from datasets.audio_dataset import AudioSpectrumDataset
from datasets.config import resolve_data_root
from datasets.harmonics import dataset_profiles
from datasets.pairs import make_pairs
from influence.config import InfluenceConfig
from influence.data import InfluenceData
from influence.fingerprint import run_fingerprint
from influence.harm import LowScores
from influence.outputs import (
    K_PAIR_SELF_INFLUENCE_MEAN,
    OutputPlan,
    ScratchMatrices,
    WrittenFiles,
    plan_outputs,
    record_sample_metadata,
    report_lines,
    summarize,
    write_influence_outputs,
)
from influence.records import SCALE, InfluenceRun
from influence.run_inputs import LoadedCheckpoint, load_run_checkpoints
from influence.summary import DEFAULT_PER_GROUP, pair_scores, recording_scores
from influence.task import LossSettings, checkpoint_spec, loss_for_checkpoint, resolve_loss_settings
from tqdm import tqdm
from tracin import PairSet, TracInEngine, distributed
from tracin.engine import CheckpointTerms
from training.checkpoints import model_from_checkpoint
from training.config import TrainConfig
from training.records import CheckpointRecord
from utils.constants import METADATA_DIR, influence_file_name, metadata_file_name
from utils.device import select_device
from utils.locking import folder_lock
from utils.staging import remove_stale_staging

log = logging.getLogger(__name__)

__all__ = ["K_PAIR_SELF_INFLUENCE_MEAN", "ComputeResult", "LoadedCheckpoint", "compute_influence", "load_run_checkpoints",
           "split_pairs"]


def run_config(checkpoint: LoadedCheckpoint, cfg: InfluenceConfig) -> TrainConfig:
    """The run's configuration, as its first checkpoint stores it; it must be of the asked material and frequency."""
    run = checkpoint.data.config
    if run is None:
        raise ValueError(f"{checkpoint.path}: no readable run configuration (written by another tool or an older "
                         "version): retrain with this toolkit's train.py")
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


@dataclass
class ComputeResult:
    """One compute run: its scores and summaries (`data.info`: the run file's record) and the files it wrote
    (None under torchrun on the processes that do not write)."""

    data: InfluenceData
    written: WrittenFiles | None

    def lines(self, with_pairs: bool) -> list[str]:
        """What compute_tracin_influence.py prints."""
        return report_lines(self.data.info, self.written, with_pairs)


@dataclass
class _Job:
    """A compute run once its inputs are known: the flags, the run's checkpoints and configuration, where it
    reads and writes, whether this process writes, and when it started."""

    cfg: InfluenceConfig
    checkpoints: list[LoadedCheckpoint]
    run: TrainConfig
    root: Path
    metadata_dir: Path
    device: torch.device
    writer: bool
    started: float

    @property
    def first(self) -> CheckpointRecord:
        """The first checkpoint: the run's split, exclusions, seed and model (every checkpoint shares them)."""
        return self.checkpoints[0].data

    @property
    def excluded(self) -> set[str]:
        """The ids the run was trained without."""
        return set(self.first.excluded_ids)

    @property
    def seed(self) -> int:
        """The run's seed (0 for checkpoints without one): the column sample and the sketch draw from it."""
        return int(self.first.seed or 0)


def compute_influence(cfg: InfluenceConfig) -> ComputeResult:
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
    job = _Job(cfg, checkpoints, run, root, metadata_dir, device, distributed.rank() == 0, started)
    if job.writer:
        _check_writable(metadata_dir)  # before the data set registers its metadata there
    # One writer at a time in a metadata folder (under torchrun: the first process, the only writer).
    with folder_lock(metadata_dir, cfg.lock_timeout) if job.writer else contextlib.nullcontext():
        if job.writer:
            remove_stale_staging(metadata_dir)
        return _compute_locked(job)


def _compute_locked(job: _Job) -> ComputeResult:
    """`compute_influence` once the metadata folder is locked."""
    cfg, split = job.cfg, job.first.split
    # The run's recordings and spectrogram settings; its exclusions come with the checkpoints' split.
    dataset = AudioSpectrumDataset(
        job.run.dataset_config(data_root=job.root, exclusions_file=None,
                               metadata_file=job.metadata_dir / metadata_file_name(job.run.material, job.run.frequency)),
        progress=cfg.progress, register=job.writer,
    )
    train = split_pairs(dataset, split["train"], job.excluded)
    val = split_pairs(dataset, split["validation"], job.excluded)
    if len(train) == 0 or len(val) == 0:
        raise ValueError("the run has no training or no validation pairs to score")
    # Sizes and free space are checked before the gradients: a shortfall stops the run at once.
    plan = plan_outputs(cfg, len(train), len(val), job.metadata_dir, job.writer, seed=job.seed)
    tracin_started = time.perf_counter()  # TracIn itself, the gradients to the summaries, is timed on its own
    engine, terms, settings = _engine_terms(job, dataset, train, val)
    tracin_seconds = time.perf_counter() - tracin_started
    # Each recording's harmonic profile, read before the pages go (not part of TracIn's time): what the
    # `profile` criterion judges.
    profiles = dataset_profiles(dataset, engine.used.numpy())
    dataset.release_pages()  # every gradient is taken
    scratch = ScratchMatrices(job.metadata_dir, len(train), len(val)) if plan.dense else None
    try:
        tracin_started = time.perf_counter()
        data = _summaries(job, engine, terms, dataset, plan, scratch)
        tracin_seconds += time.perf_counter() - tracin_started
        data.profile_levels, data.profile_floors = profiles
        data.info = _run_record(job, dataset, settings, plan, len(val))
        data.info.summary = summarize(data, terms)
        data.info.summary.seconds = round(time.perf_counter() - job.started, 2)
        data.info.summary.seconds_tracin = round(tracin_seconds, 2)  # gradients, scores, summaries; not loading or writing
        if not job.writer:
            return ComputeResult(data, None)
        record_sample_metadata(dataset.metadata, split, data, data.info.fingerprint)
        written = write_influence_outputs(job.metadata_dir / influence_file_name(cfg.material, cfg.frequency), data,
                                          dataset.metadata, cfg.compute_influence, cfg.write_json)
        return ComputeResult(data, written)
    finally:
        if scratch is not None:
            scratch.remove()  # the mappings stay readable while `data` holds them


def _engine_terms(job: _Job, dataset: AudioSpectrumDataset, train: PairSet,
                  val: PairSet) -> tuple[TracInEngine, list[CheckpointTerms], LossSettings]:
    """The engine over the run's recordings and pairs, and its terms at every checkpoint, with the loss
    each checkpoint trained with (after the flags' overrides)."""
    cfg = job.cfg
    model = model_from_checkpoint(job.first, job.checkpoints[0].path)
    dtype = torch.float64 if cfg.double_precision else torch.float32
    engine = TracInEngine(model, dataset.spectrograms, train, val, job.device, dtype, cfg.batch_size, cfg.progress,
                          memory_budget=int(cfg.memory_mb * 2**20), projection_dim=cfg.projection_dim,
                          projection_seed=job.seed)
    settings = resolve_loss_settings(job.first, cfg)
    specs = []
    for ck in job.checkpoints:
        model_from_checkpoint(ck.data, ck.path)  # fails clearly on a foreign architecture
        loss = loss_for_checkpoint(ck.data, settings)
        specs.append(checkpoint_spec(ck.data.model_state, ck.eta, loss, f"epoch {ck.epoch}", cfg.measurement))
    return engine, engine.all_terms(specs), settings


def _run_record(job: _Job, dataset: AudioSpectrumDataset, settings: LossSettings, plan: OutputPlan,
                n_val: int) -> InfluenceRun:
    """The run file's record of this run (its summary aside), with the fingerprint of its inputs."""
    cfg, split = job.cfg, job.first.split
    fingerprint = run_fingerprint(
        job.checkpoints, split, job.excluded,
        {sid: dataset.file_sha256[dataset.index_of[sid]] for members in split.values() for sid in members
         if sid in dataset.index_of},
        {"type": settings.loss_type, "config": settings.config, "saved_state": settings.use_saved_state,
         "measurement": cfg.measurement, "projection_dim": cfg.projection_dim, "keep_lowest": plan.keep_lowest},
    )
    dtype = torch.float64 if cfg.double_precision else torch.float32
    return InfluenceRun(
        fingerprint=fingerprint, created=datetime.now().isoformat(timespec="seconds"), config=cfg,
        data_root=str(job.root.resolve()), seed=job.first.seed, run_config=job.run,
        checkpoints=[c.use() for c in job.checkpoints], loss_type=settings.loss_type, loss_config=settings.config,
        measurement=cfg.measurement, scale=SCALE, validation_pairs_scored=plan.describe_columns(n_val),
        projection_dim=cfg.projection_dim, processes=distributed.world_size(), device=str(job.device),
        dtype=str(dtype).replace("torch.", ""),
    )


def _summaries(job: _Job, engine: TracInEngine, terms: list[CheckpointTerms], dataset: AudioSpectrumDataset,
               plan: OutputPlan, scratch: ScratchMatrices | None) -> InfluenceData:
    """Everything the influence files hold, from the engine's checkpoint terms (one per checkpoint of the job)."""
    cfg = job.cfg
    rec_index = torch.tensor([dataset.index_of[s] for s in sorted(job.first.split["train"]) if s not in job.excluded])
    used = engine.used
    angles = torch.from_numpy(dataset.angles)[used]
    P = len(engine.train_local)
    budget = int(cfg.memory_mb * 2**20)
    if cfg.compute_influence:
        with tqdm(total=P, desc="pair scores", unit="pair", disable=not cfg.progress, leave=False) as bar:
            pairs = pair_scores(engine, terms, angles, k=plan.keep_lowest, per_group=DEFAULT_PER_GROUP, seed=plan.seed,
                                memory_budget=budget, columns=plan.columns, dense=scratch.sink if scratch else None,
                                progress=bar.update)
    else:  # self-influence only: no pair scores
        pairs = LowScores(np.zeros((P, 0), np.float32), np.zeros((P, 0), np.int64), np.zeros(P), 0)
    rec = recording_scores(engine, terms, rec_index, torch.from_numpy(dataset.angles)[rec_index], k=plan.keep_lowest,
                           memory_budget=budget, columns=plan.columns)
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
        checkpoint_epochs=np.asarray([ck.epoch for ck in job.checkpoints]),
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
