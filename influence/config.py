"""`InfluenceConfig`: what compute_tracin_influence.py was asked to do (no torch needed)."""
from __future__ import annotations

from dataclasses import dataclass

from utils.constants import CHECKPOINT_PREFIX


@dataclass
class InfluenceConfig:
    frequency: str
    material: str
    checkpoint_dir: str
    checkpoint_prefix: str = CHECKPOINT_PREFIX
    data_root: str | None = None
    metadata_dir: str | None = None
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
