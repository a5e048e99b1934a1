"""`InfluenceConfig`: what compute_tracin_influence.py is asked to do (importing it needs no torch)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from utils.atomic_io import json_safe
from utils.constants import CHECKPOINT_PREFIX
from utils.locking import DEFAULT_LOCK_TIMEOUT, check_lock_timeout

DEFAULT_THRESHOLD = -3.0
"""The tutorial's `--threshold`: a standardised score three robust SDs more harmful than comparable items
(the harmful-pair rule, `influence.harm`)."""
DEFAULT_MIN_OCCURRENCES = 5
"""The tutorial's `--min-occurrences`: validation pairs a training pair must be harmful on."""
# What TracIn differentiates on the validation side (influence.task says what each is).
MEASUREMENTS = ("margin", "logistic", "loss")
DEFAULT_MEASUREMENT = "margin"


@dataclass
class InfluenceConfig:
    """The run's own settings (data root, spectrogram parameters, loss) come from its checkpoints;
    `data_root` and the loss fields here only override them."""

    frequency: str
    material: str
    checkpoint_dir: Path
    checkpoint_prefix: str = CHECKPOINT_PREFIX
    epochs: tuple[int, ...] | None = None  # the checkpoints to use, by epoch (default: all)
    every: int | None = None  # or every k-th checkpoint, counted back from the last
    allow_incomplete: bool = False
    assume_learning_rate: float | None = None  # for checkpoints that store none
    data_root: Path | None = None
    metadata_dir: Path | None = None
    compute_influence: bool = True
    compute_self_influence: bool = True
    measurement: str = DEFAULT_MEASUREMENT
    keep_lowest: int | None = None  # lowest standardised scores kept per training pair and recording; None: 8-32 by size
    dense: bool | None = None  # dense matrices and a nested JSON of every score; None: when small
    max_cells: int | None = None  # beyond P x Q, the scores count on a sample of validation pairs; None: 2e9 (or 256 per pair)
    memory_mb: float = 512  # for one block of gradients, pair scores or recording scores
    projection_dim: int | None = None  # CountSketch of the gradients (approximate); None: exact
    batch_size: int = 32
    device: str = "auto"
    double_precision: bool = False
    write_json: bool = True
    loss_type: str | None = None
    margin: float | None = None
    ghm_bins: int | None = None
    ghm_alpha: float | None = None
    progress: bool = True
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT  # seconds to wait for another writer of the metadata folder

    def __post_init__(self) -> None:
        self.checkpoint_dir = Path(self.checkpoint_dir)
        self.data_root = None if self.data_root is None else Path(self.data_root)
        self.metadata_dir = None if self.metadata_dir is None else Path(self.metadata_dir)
        if self.batch_size < 1:
            raise ValueError("--batch-size must be at least 1")
        if self.epochs is not None:
            self.epochs = tuple(int(e) for e in self.epochs)
            if not self.epochs or min(self.epochs) < 0:
                raise ValueError(f"--epochs must name checkpoint epochs (0 or more), got {list(self.epochs)}")
        if self.every is not None and self.every < 1:
            raise ValueError(f"--every must be at least 1, got {self.every}")
        if self.epochs is not None and self.every is not None:
            raise ValueError("pass --epochs or --every, not both")
        self.lock_timeout = check_lock_timeout(self.lock_timeout)
        lr = self.assume_learning_rate
        if lr is not None and not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"--assume-learning-rate must be a finite positive number, got {lr}")
        for name, low in (("keep_lowest", 1), ("max_cells", 1)):
            if getattr(self, name) is not None and getattr(self, name) < low:
                raise ValueError(f"--{name.replace('_', '-')} must be at least {low}, got {getattr(self, name)}")
        if not (math.isfinite(self.memory_mb) and self.memory_mb >= 0.01):
            raise ValueError(f"--memory-mb must be a number of at least 0.01, got {self.memory_mb}")
        if self.projection_dim is not None and self.projection_dim < 1:
            raise ValueError(f"--projection-dim must be at least 1, got {self.projection_dim}")
        if self.measurement not in MEASUREMENTS:
            raise ValueError(f"unknown --measurement {self.measurement!r}: choose one of {', '.join(MEASUREMENTS)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as the influence run file stores it."""
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> InfluenceConfig:
        """Read back `to_dict()`: missing keys (older files) take their defaults, unknown keys are ignored."""
        names = {f.name for f in fields(cls) if f.init}
        return cls(**{k: v for k, v in values.items() if k in names})
