"""`DatasetConfig`: where the recordings are, which ones, and how to turn them into spectrograms."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from datasets.audio import SpectrogramParams
from datasets.exclusions import ExclusionList, load_exclusions
from utils.constants import (
    ALL_FREQUENCIES,
    CACHE_DIR,
    DATA_ROOT_ENV,
    DEFAULT_DEMO_ROOT,
    DEFAULT_MATERIAL,
    FREQUENCIES,
    METADATA_DIR,
    SAMPLE_RATE,
    metadata_file_name,
)


def default_data_root() -> Path:
    """`$SINETONE_DATA_ROOT`, else the demo data folder of this checkout."""
    env = os.environ.get(DATA_ROOT_ENV)
    return Path(env) if env else Path(__file__).resolve().parent.parent / DEFAULT_DEMO_ROOT


@dataclass
class DatasetConfig:
    data_root: Path
    material: str = DEFAULT_MATERIAL
    frequency: str = "500hz"
    exclusions_file: Path | None = None
    metadata_file: Path | None = None
    sample_rate: int = SAMPLE_RATE
    n_fft: int = 2048
    hop_length: int = 256
    clip_seconds: float = 1.0
    resample: bool = True
    use_cache: bool = True

    def __post_init__(self) -> None:
        self.data_root = Path(self.data_root)
        if self.frequency not in FREQUENCIES + (ALL_FREQUENCIES,):
            raise ValueError(f"unknown frequency {self.frequency!r}: choose one of {', '.join(FREQUENCIES)} or all")
        if self.exclusions_file is not None:
            self.exclusions_file = Path(self.exclusions_file)
        if self.metadata_file is not None:
            self.metadata_file = Path(self.metadata_file)

    @property
    def frequencies(self) -> tuple[str, ...]:
        return FREQUENCIES if self.frequency == ALL_FREQUENCIES else (self.frequency,)

    @property
    def spectrogram_params(self) -> SpectrogramParams:
        return SpectrogramParams(self.sample_rate, self.n_fft, self.hop_length, self.clip_seconds, self.resample)

    @property
    def resolved_metadata_file(self) -> Path:
        if self.metadata_file is not None:
            return self.metadata_file
        return self.data_root / METADATA_DIR / metadata_file_name(self.material, self.frequency)

    @property
    def cache_dir(self) -> Path | None:
        return self.data_root / CACHE_DIR if self.use_cache else None

    def load_exclusions(self) -> ExclusionList:
        """The exclusion list named by `exclusions_file` (empty when none is set)."""
        if self.exclusions_file is None:
            return ExclusionList()
        return load_exclusions(self.exclusions_file)
