"""Training the angle ranker and writing a complete, reproducible run folder."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from datasets.audio_dataset import AudioSpectrumDataset
from datasets.exclusions import describe_unknown_ids
from datasets.metadata import MetadataStore
from datasets.pairs import SPLIT_NAMES, make_pairs, stratified_split
from losses import PairLoss, build_loss
from models import build_model
from models.presets import MODEL_CLASS
from training.checkpoints import list_checkpoints, load_checkpoint, save_checkpoint
from training.config import LR_SCHEDULES, TrainConfig
from training.metrics import pairwise_accuracy, spearman
from training.optim import Adam
from training.plots import plot_training_curves
from training.records import CheckpointRecord, Resumed, TrainingRun
from training.run_folder import check_run_folder, open_run_folder
from utils.atomic_io import json_safe, write_json_atomic
from utils.constants import (
    CHECKPOINT_PREFIX,
    CURVES_FILE,
    HISTORY_FILE,
    RUN_FILE,
    SCORES_FILE,
    SUMMARY_FILE,
    checkpoint_file_name,
)
from utils.device import select_device
from utils.locking import folder_lock
from utils.seeding import restore_rng_state, rng_state, seed_everything

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_dir: Path
    summary: dict[str, Any]
    history: list[dict] = field(default_factory=list)


def learning_rate_at(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate in force during `epoch` (1-based): constant, or cosine down to 10%."""
    if cfg.lr_schedule == "constant":
        return cfg.learning_rate
    if cfg.lr_schedule == "cosine":
        progress = (epoch - 1) / max(cfg.epochs - 1, 1)
        return float(cfg.learning_rate * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * progress))))
    raise ValueError(f"unknown --lr-schedule {cfg.lr_schedule!r}: choose one of {', '.join(LR_SCHEDULES)}")


@torch.no_grad()
def score_all(model: nn.Module, specs: torch.Tensor, device: torch.device, batch: int = 64) -> np.ndarray:
    """Eval-mode score of every recording. specs (N, F, T) -> (N,) float64."""
    model.eval()
    out = [model(specs[i : i + batch].to(device)).double().cpu() for i in range(0, len(specs), batch)]
    return torch.cat(out).numpy()


def _check_split(split: dict[str, list[str]], dataset: AudioSpectrumDataset) -> None:
    """Refuse a split that leaves training or validation without recordings (naming why), and say when
    the holdout split is empty (its accuracy is then NaN)."""
    most = int(np.unique(dataset.stored_angles, return_counts=True)[1].max())
    for name in ("train", "validation"):
        if not split[name]:
            raise ValueError(f"the {name} split is empty: with {most} recording(s) per angle there is none for it;"
                             " record at least 2 takes per angle (3 for a holdout split too)")
    if not split["holdout"]:
        log.warning("the holdout split is empty: with %d recordings per angle there is none for it (3 per angle give "
                    "one); the holdout's pairwise accuracy and Spearman will be NaN", most)
    excluded = set(dataset.excluded_ids)
    for name in ("train", "validation"):
        left = [s for s in split[name] if s not in excluded]
        angles_all = {dataset.angles[dataset.index_of[s]] for s in split[name]}
        angles_left = {dataset.angles[dataset.index_of[s]] for s in left}
        if not left:
            raise ValueError(f"the exclusions remove every {name} recording")
        if angles_left != angles_all:
            lost = ", ".join(f"{a:g}" for a in sorted(angles_all - angles_left))
            raise ValueError(f"the exclusions remove every {name} recording at angle(s) {lost} degrees")


def batch_orders(n: int, epochs: range, seed: int) -> list[np.ndarray]:
    """The order `_train_epoch` visits `n` training recordings in, per epoch of `epochs` (1-based): the run's
    shuffling generator seeded as `seed_everything` seeds it (it draws nothing else)."""
    gen = torch.Generator()
    gen.manual_seed(seed)
    orders = []
    for epoch in range(1, epochs.stop):
        order = torch.randperm(n, generator=gen).numpy()
        if epoch in epochs:
            orders.append(order)
    return orders


def check_steps_have_pairs(angles: np.ndarray, batch_size: int, epochs: int, seed: int) -> None:
    """Refuse, before training, a run in which some epoch would train on no pair: every step of it holds
    recordings of one angle only. `angles` (R,): the training recordings' angles, in training order."""
    for epoch, order in enumerate(batch_orders(len(angles), range(1, epochs + 1), seed), 1):
        steps = [angles[order[k:k + batch_size]] for k in range(0, len(order), batch_size)]
        if not any(len(np.unique(a)) > 1 for a in steps):
            raise ValueError(f"epoch {epoch} would train on nothing: each of its {len(steps)} step(s) of --batch-size "
                             f"{batch_size} holds recordings of one angle only, and pairs need two angles; pass a larger "
                             f"--batch-size (the training split has {len(angles)} recordings at {len(np.unique(angles))} "
                             "angle(s))")


def _checkpoint(model, optimizer, loss: PairLoss, epoch: int, lr: float, cfg: TrainConfig, run: TrainingRun,
                history: list[dict], gen: torch.Generator) -> CheckpointRecord:
    """Everything TracIn needs, and everything `--resume` needs to continue bit for bit (the
    optimizer and loss state, every random state, the history so far)."""
    return CheckpointRecord(
        epoch=epoch, model_state={k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        model_class=type(model).__name__, model_kwargs=model.constructor_kwargs(), learning_rate=lr,
        config=run.config, seed=cfg.seed, optimizer_state=optimizer.state_dict(), loss_type=loss.name,
        loss_config=loss.config(), loss_state=loss.state_dict(), split=run.split, excluded_ids=run.excluded_ids,
        rng_state=rng_state(gen), history=[dict(h) for h in history],
    )


def _resume(run_dir: Path, model: nn.Module, optimizer, loss: PairLoss, gen: torch.Generator) -> tuple[int, list[dict]]:
    """Restore the state of the run's last checkpoint; return its epoch and the history up to it
    (epoch 0 and no history when it has none yet)."""
    try:
        epoch, path = list_checkpoints(run_dir, CHECKPOINT_PREFIX)[-1]
    except FileNotFoundError:
        log.warning("%s has no checkpoint yet: --resume starts it from epoch 1", run_dir)
        return 0, []
    ckpt = load_checkpoint(path)
    if ckpt.rng_state is None or ckpt.history is None:
        raise ValueError(f"--resume: {path} lacks the training state to continue from (written by an older train.py):"
                         " start the run again with --overwrite")
    try:
        model.load_state_dict(ckpt.model_state, strict=True)
        optimizer.load_state_dict(ckpt.optimizer_state)
        loss.load_state_dict(ckpt.loss_state or {})
        restore_rng_state(ckpt.rng_state, gen)
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
        lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
        detail = (lines[1] if len(lines) > 1 else lines[0] if lines else type(exc).__name__)[:200]
        raise ValueError(f"--resume: {path} does not fit this run's model and settings ({detail}): it was written by "
                         "another run; start this one again with --overwrite") from None
    log.info("resuming %s after epoch %d", run_dir, epoch)
    return epoch, list(ckpt.history)


def _load_dataset(cfg: TrainConfig) -> AudioSpectrumDataset:
    """The recordings with the exclusions applied; unknown ids in the list are an error unless allowed.
    Then every recording is registered in the sample metadata, holding the metadata folder's lock."""
    dataset = AudioSpectrumDataset(cfg.dataset_config(), progress=cfg.progress, register=False)
    if dataset.unknown_exclusions and not cfg.allow_unknown_exclusions:
        raise ValueError(
            f"exclusions file {cfg.exclusions_file} names unknown id(s): "
            + ", ".join(describe_unknown_ids(dataset.unknown_exclusions, dataset.sample_ids))
            + " (fix the file, or pass --allow-unknown-exclusions)"
        )
    metadata_file = dataset.config.resolved_metadata_file
    metadata_file.parent.mkdir(parents=True, exist_ok=True)
    with folder_lock(metadata_file.parent, cfg.lock_timeout):
        dataset.metadata = MetadataStore.load(metadata_file)  # as it is now, under the lock
        dataset.register_metadata()
    return dataset


def _run_info(cfg: TrainConfig, dataset: AudioSpectrumDataset, split: dict, pairs: dict,
              device: torch.device) -> TrainingRun:
    """run.json: configuration, seed, split by sample id, exclusions and counts."""
    counts = {"recordings": len(dataset.sample_ids), "excluded_recordings": len(dataset.excluded_ids)}
    for name in SPLIT_NAMES:
        every = dataset.pairs(split[name], valid_only=False)[0]
        counts[f"{name}_recordings"] = len(dataset.indices(split[name]))
        counts[f"{name}_pairs"] = len(pairs[name][0])
        counts[f"{name}_pairs_removed"] = len(every) - len(pairs[name][0])
    return TrainingRun(
        config=cfg, seed=cfg.seed, split=split, excluded_ids=dataset.excluded_ids,
        unknown_excluded_ids=dataset.unknown_exclusions, relabeled=dataset.relabels, counts=counts, device=str(device),
        created=datetime.now().isoformat(timespec="seconds"), threads=torch.get_num_threads(), complete=False,
    )


def _train_epoch(
    model: nn.Module,
    optimizer: Adam,
    loss: PairLoss,
    specs: torch.Tensor,
    recordings: np.ndarray,
    angles: np.ndarray,
    batch_size: int,
    gen: torch.Generator,
    device: torch.device,
) -> float:
    """One pass over the training recordings in a seeded order; returns the mean pair loss.

    Each step scores `batch_size` recordings once and trains on every pair among them whose
    angles differ, so an epoch costs one forward and backward pass per recording however
    many pairs there are. `recordings` (R,) indexes `specs` (N, F, T) and `angles` (N,).
    """
    model.train()
    order = recordings[torch.randperm(len(recordings), generator=gen).numpy()]
    total, count = 0.0, 0
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        local, targets = make_pairs(np.arange(len(batch)), angles[batch])
        if len(local) == 0:
            continue  # every recording of this batch has the same angle
        scores = model(specs[torch.from_numpy(batch)].to(device))
        pairs = torch.from_numpy(local).to(device)
        margins = scores[pairs[:, 0]] - scores[pairs[:, 1]]
        batch_loss = loss.pair_losses(margins, torch.from_numpy(targets).to(device), update=True).mean()
        optimizer.zero_grad(set_to_none=True)
        batch_loss.backward()
        optimizer.step()
        total += float(batch_loss.detach()) * len(local)
        count += len(local)
    if count == 0:  # check_steps_have_pairs refuses such a run before it starts; never mark one complete
        raise ValueError("an epoch trained on no pair: every step held recordings of one angle; pass a larger --batch-size")
    return total / count


def _scores_of(model: nn.Module, specs: torch.Tensor, which: np.ndarray, device: torch.device) -> np.ndarray:
    """Scores (N,) of the recordings `which` (others 0): only the validation recordings are scored each epoch."""
    scores = np.zeros(len(specs))
    if len(which):
        scores[which] = score_all(model, specs[torch.from_numpy(which)], device)
    return scores


def _validation_record(loss: PairLoss, scores: np.ndarray, pairs: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """Held-out loss and pairwise accuracy of the validation pairs."""
    if len(pairs) == 0:
        return {"validation_loss": float("nan"), "validation_pairwise_accuracy": float("nan")}
    margins = torch.from_numpy(scores[pairs[:, 0]] - scores[pairs[:, 1]])
    return {
        "validation_loss": float(loss.evaluation_losses(margins, torch.from_numpy(targets).double()).mean()),
        "validation_pairwise_accuracy": pairwise_accuracy(scores, pairs, targets),
    }


def train(cfg: TrainConfig) -> RunResult:
    """Train the ranker as `cfg` says and write the run folder. Returns its path and summary.

    The flags were checked when `cfg` was made; an existing run folder is refused here,
    before any spectrogram is computed (`training.run_folder`)."""
    started = time.perf_counter()
    learning_rate_at(cfg, 1)
    check_run_folder(cfg)
    cfg.check_input_files()  # the list and relabel file exist and are of one generate run
    device = select_device(cfg.device)
    loss = build_loss(cfg.loss_type, cfg.margin, cfg.ghm_bins, cfg.ghm_alpha, cfg.ghm_momentum)
    dataset = _load_dataset(cfg)
    # The split covers every recording, before exclusions, so a retrain is judged on the same holdout.
    split = stratified_split(dataset.sample_ids, dataset.stored_angles, cfg.split_fractions, cfg.split_seed)
    _check_split(split, dataset)
    pairs = {name: dataset.pairs(split[name]) for name in SPLIT_NAMES}
    if len(pairs["train"][0]) == 0:
        raise ValueError("no training pairs: the training split needs recordings at two or more angles")
    check_steps_have_pairs(dataset.angles[dataset.indices(split["train"])], cfg.batch_size, cfg.epochs, cfg.seed)
    with open_run_folder(cfg) as run_dir:
        return _train_in(run_dir, cfg, _Prepared(dataset, split, pairs, loss, device, started))


def _resumed_run_info(run_dir: Path, run_info: TrainingRun) -> TrainingRun:
    """The run.json the run started with, if the data it trains on is still the same."""
    stored = TrainingRun.read(run_dir)
    for key in ("split", "excluded_ids", "relabeled"):
        if getattr(stored, key) not in (None, getattr(run_info, key)):
            raise ValueError(f"--resume: the {key.replace('_', ' ')} of {run_dir} differ from those of the data now"
                             " (recordings or exclusions changed since it started): start it again with --overwrite")
    if stored.threads not in (None, run_info.threads):
        log.warning("--resume with %d threads, the run started with %s: the last bits of the results may differ",
                    run_info.threads, stored.threads)
    return stored


@dataclass
class _Prepared:
    """What `train` prepares before it opens the run folder: the recordings, their split and pairs (per split
    name: pairs (n, 2) and targets (n,)), the loss, the device and when it started."""

    dataset: AudioSpectrumDataset
    split: dict[str, list[str]]
    pairs: dict[str, tuple[np.ndarray, np.ndarray]]
    loss: PairLoss
    device: torch.device
    started: float


def _train_in(run_dir: Path, cfg: TrainConfig, prep: _Prepared) -> RunResult:
    """`train`, in its locked run folder: run.json (incomplete), every epoch and its checkpoints, then the
    results and, last, run.json marked complete."""
    run_info = _run_info(cfg, prep.dataset, prep.split, prep.pairs, prep.device)
    gen = seed_everything(cfg.seed)
    model = build_model(MODEL_CLASS, cfg.model_kwargs()).to(prep.device)
    optimizer = Adam(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    done, history = 0, []
    if cfg.resume:
        run_info = _resumed_run_info(run_dir, run_info)
        done, history = _resume(run_dir, model, optimizer, prep.loss, gen)
        run_info.resumed.append(Resumed(done, datetime.now().isoformat(timespec="seconds")))
    write_json_atomic(run_dir / RUN_FILE, run_info.to_dict())  # "complete": false until the very end
    bar = tqdm(range(done + 1, cfg.epochs + 1), desc=f"train {run_dir.name}", unit="epoch", disable=not cfg.progress,
               initial=done, total=cfg.epochs)
    for epoch in bar:
        record = _epoch(model, optimizer, epoch, cfg, prep, gen)
        history.append(record)
        bar.set_postfix(loss=f"{record['train_loss']:.3f}", val_acc=f"{record['validation_pairwise_accuracy']:.3f}")
        if epoch % cfg.checkpoint_interval == 0 or epoch == cfg.epochs:
            ckpt = _checkpoint(model, optimizer, prep.loss, epoch, record["learning_rate"], cfg, run_info, history, gen)
            save_checkpoint(ckpt, run_dir / checkpoint_file_name(epoch, CHECKPOINT_PREFIX))
    summary = _finish(run_dir, cfg, prep, model, history, run_info)
    return RunResult(run_dir=run_dir, summary=summary, history=history)


def _epoch(model: nn.Module, optimizer: Adam, epoch: int, cfg: TrainConfig, prep: _Prepared,
           gen: torch.Generator) -> dict[str, float]:
    """Train one epoch at its learning rate; its history record (learning rate, losses, validation accuracy)."""
    lr = learning_rate_at(cfg, epoch)
    for group in optimizer.param_groups:
        group["lr"] = lr
    specs, dataset = prep.dataset.spectrograms, prep.dataset
    train_loss = _train_epoch(model, optimizer, prep.loss, specs, dataset.indices(prep.split["train"]), dataset.angles,
                              cfg.batch_size, gen, prep.device)
    val_inputs = np.unique(prep.pairs["validation"][0])
    return {"epoch": epoch, "learning_rate": lr, "train_loss": train_loss,
            **_validation_record(prep.loss, _scores_of(model, specs, val_inputs, prep.device), *prep.pairs["validation"])}


def _finish(run_dir: Path, cfg: TrainConfig, prep: _Prepared, model: nn.Module, history: list[dict],
            run_info: TrainingRun) -> dict[str, Any]:
    """The trained run's summary, history, scores and curves, then run.json marked complete (last). -> summary."""
    dataset = prep.dataset
    final_scores = score_all(model, dataset.spectrograms, prep.device)
    summary: dict[str, Any] = {"run": run_dir.name, "epochs": cfg.epochs, "seed": cfg.seed}
    for name in SPLIT_NAMES:
        idx = dataset.indices(prep.split[name])
        summary[f"{name}_pairwise_accuracy"] = pairwise_accuracy(final_scores, *prep.pairs[name])
        summary[f"{name}_spearman"] = spearman(final_scores[idx], dataset.angles[idx])
    summary["excluded_recordings"] = len(dataset.excluded_ids)
    summary["relabelled_recordings"] = {sid: [int(dataset.stored_angles[dataset.index_of[sid]]), int(angle)]
                                        for sid, angle in sorted(dataset.relabels.items()) if sid in dataset.index_of}
    summary["train_pairs_removed"] = run_info.counts["train_pairs_removed"]
    summary["seconds"] = round(time.perf_counter() - prep.started, 2)
    write_json_atomic(run_dir / HISTORY_FILE, json_safe(history))
    write_json_atomic(run_dir / SUMMARY_FILE, json_safe(summary))
    write_json_atomic(run_dir / SCORES_FILE, {sid: float(s) for sid, s in zip(dataset.sample_ids, final_scores)})
    plot_training_curves(history, run_dir / CURVES_FILE, f"{run_dir.name} (seed {cfg.seed})")
    # Last: the run is complete only once everything above is on disk.
    run_info.complete, run_info.final_epoch = True, cfg.epochs
    run_info.finished = datetime.now().isoformat(timespec="seconds")
    write_json_atomic(run_dir / RUN_FILE, run_info.to_dict())
    return summary
