"""Which checkpoints of a training run TracIn uses, and what each one is.

- The run must be complete (train.py writes `"complete": true` into run.json last), unless
  `allow_incomplete`: a killed run's checkpoints would silently stand for the whole run.
- `epochs` (a list) or `every` (every k-th checkpoint, counted back from the last, which is
  always used) choose among the checkpoints found; by default all are used.
- Each checkpoint's bytes are read once, hashed (its identity in the run fingerprint) and
  loaded from those same bytes; its learning rate must be stored, unless
  `assume_learning_rate` says what to use (`training.checkpoints.checkpoint_learning_rate`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from influence.records import CheckpointUse
from training.checkpoints import checkpoint_learning_rate, list_checkpoints, load_checkpoint
from training.records import CheckpointRecord, TrainingRun
from utils.constants import RUN_FILE, SUMMARY_FILE
from utils.hashing import bytes_digest

log = logging.getLogger(__name__)

@dataclass
class LoadedCheckpoint:
    """One checkpoint TracIn uses: its contents, the learning rate it is weighed by, and its file's identity."""

    epoch: int
    path: Path
    data: CheckpointRecord
    eta: float
    size: int = 0
    sha256: str = ""

    def use(self) -> CheckpointUse:
        """As the influence run file lists it (and as the run fingerprint covers it, less the path)."""
        return CheckpointUse(self.epoch, str(self.path), self.eta, self.size, self.sha256)


def select_checkpoints(
    found: Sequence[tuple[int, Path]], epochs: Sequence[int] | None = None, every: int | None = None,
    folder: str | Path = "the checkpoint folder",
) -> list[tuple[int, Path]]:
    """The checkpoints `--epochs E ...` or `--every K` choose among `found` (ordered by epoch)."""
    if epochs and every:
        raise ValueError("pass --epochs or --every, not both")
    held = ", ".join(str(e) for e, _ in found)
    if epochs:
        by_epoch = dict(found)
        missing = sorted({e for e in epochs if e not in by_epoch})
        if missing:
            raise ValueError(f"--epochs: {folder} has no checkpoint of epoch {', '.join(map(str, missing))}"
                             f" (it holds epochs {held})")
        return [(e, by_epoch[e]) for e in sorted(set(epochs))]
    if every is not None:
        if every < 1:
            raise ValueError(f"--every must be at least 1, got {every}")
        return list(found)[::-1][::every][::-1]
    return list(found)


def check_run_complete(folder: str | Path, found: Sequence[tuple[int, Path]], allow_incomplete: bool = False) -> bool:
    """Refuse (one line) the checkpoints of a run that train.py did not finish; return whether it finished.

    A run is complete when its run.json says `"complete": true` (runs written before that
    flag: when its summary.json exists) and its last checkpoint is its last epoch. Without
    run.json, the last checkpoint's stored configuration gives the number of epochs.
    """
    folder = Path(folder)
    last_epoch, last_path = found[-1]
    planned = None
    run_file = folder / RUN_FILE
    if run_file.is_file():
        info = TrainingRun.read(folder)
        planned = info.config.epochs if info.config is not None else None
        complete = info.complete if info.complete is not None else (folder / SUMMARY_FILE).is_file()
    else:
        config = load_checkpoint(last_path).config
        planned = config.epochs if config is not None else None
        complete = True
    if isinstance(planned, int) and last_epoch < planned:
        complete = False
    if complete:
        return True
    of = f" of {planned}" if isinstance(planned, int) else ""
    if not allow_incomplete:
        raise ValueError(
            f"{folder} is an incomplete training run: the last checkpoint found is epoch {last_epoch}{of}"
            " (train.py stopped before the end); finish it with train.py and the same flags plus --resume,"
            " or pass --allow-incomplete to use the checkpoints it has"
        )
    log.warning("%s is an incomplete training run (last checkpoint: epoch %d%s); used as asked (--allow-incomplete)",
                folder, last_epoch, of)
    return False


def load_run_checkpoints(
    folder: str | Path,
    prefix: str,
    epochs: Sequence[int] | None = None,
    every: int | None = None,
    allow_incomplete: bool = False,
    assume_learning_rate: float | None = None,
) -> list[LoadedCheckpoint]:
    """The chosen checkpoints of one complete run, by epoch; they must share architecture, split and exclusions."""
    found = list_checkpoints(folder, prefix)
    check_run_complete(folder, found, allow_incomplete)
    loaded = []
    for epoch, path in select_checkpoints(found, epochs, every, folder):
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"{path}: cannot read the checkpoint ({exc.strerror})") from None
        data = load_checkpoint(path, raw)
        if data.epoch != epoch:
            raise ValueError(f"{path}: its name says epoch {epoch}, its contents say epoch {data.epoch!r}")
        eta = checkpoint_learning_rate(data, path, assume_learning_rate)
        loaded.append(LoadedCheckpoint(epoch, path, data, eta, len(raw), bytes_digest(raw)))
    first = loaded[0].data.same_run_fields()
    for ck in loaded[1:]:
        for key, value in ck.data.same_run_fields().items():
            if value != first[key]:
                raise ValueError(f"{ck.path} differs from {loaded[0].path} in {key}: checkpoints of different runs?")
    if loaded[0].data.split is None:
        raise ValueError(f"{loaded[0].path} stores no train/validation split; retrain with this toolkit's train.py")
    return loaded
