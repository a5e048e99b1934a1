"""`InfluenceConfig`: what compute_tracin_influence.py is asked to do (importing it needs no torch)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from utils.atomic_io import json_safe
from utils.constants import CHECKPOINT_PREFIX


@dataclass
class InfluenceConfig:
    """The run's own settings (data root, spectrogram parameters, loss) come from its checkpoints;
    `data_root` and the loss fields here only override them."""

    frequency: str
    material: str
    checkpoint_dir: Path
    checkpoint_prefix: str = CHECKPOINT_PREFIX
    data_root: Path | None = None
    metadata_dir: Path | None = None
    compute_influence: bool = True
    compute_self_influence: bool = True
    batch_size: int = 32
    device: str = "auto"
    double_precision: bool = False
    write_json: bool = True
    block_rows: int = 4096
    loss_type: str | None = None
    margin: float | None = None
    ghm_bins: int | None = None
    ghm_alpha: float | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        self.checkpoint_dir = Path(self.checkpoint_dir)
        self.data_root = None if self.data_root is None else Path(self.data_root)
        self.metadata_dir = None if self.metadata_dir is None else Path(self.metadata_dir)
        if self.batch_size < 1:
            raise ValueError("--batch-size must be at least 1")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as the influence run file stores it."""
        return json_safe(asdict(self))
