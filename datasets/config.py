"""Where the recordings are, which ones, and how to turn them into spectrograms.

`SpectrogramParams` is the one place the spectrogram settings and their defaults are
defined; `resolve_data_root` is the one place that decides which data root a step works
on. Importing this module needs no torch.
"""
from __future__ import annotations

import json
import math
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from datasets.exclusions import ExclusionList, list_made_from, load_exclusions
from utils.constants import (
    ALL_FREQUENCIES,
    CACHE_DIR,
    DATA_ROOT_ENV,
    DEFAULT_DEMO_ROOT,
    DEFAULT_FREQUENCY,
    DEFAULT_MATERIAL,
    EXCLUSIONS_DIR,
    FREQUENCIES,
    FREQUENCY_CHOICES,
    METADATA_DIR,
    SAMPLE_RATE,
    frequency_hz,
    metadata_file_name,
)

log = logging.getLogger(__name__)

DEFAULT_SPLIT = (0.5, 0.25, 0.25)
"""Train / validation / holdout shares (`datasets.pairs.stratified_split`)."""
SPLIT_NAMES = ("train", "validation", "holdout")


@dataclass(frozen=True)
class SpectrogramParams:
    """How one recording becomes a log-magnitude spectrogram (also the cache key)."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 2048
    hop_length: int = 256
    clip_seconds: float = 1.0
    resample: bool = True

    @property
    def num_samples(self) -> int:
        return int(round(self.sample_rate * self.clip_seconds))

    def key(self) -> str:
        return json.dumps(
            # `resample` is part of the key: a file resampled into the cache must still be
            # refused when resampling is off.
            {"sr": self.sample_rate, "n_fft": self.n_fft, "hop": self.hop_length, "clip": self.clip_seconds,
             "resample": self.resample, "v": 1},
            sort_keys=True,
        )


def harmonic_bins(frequency: str, params: SpectrogramParams, harmonics: int = 9) -> int | None:
    """Frequency bins that hold the first `harmonics` harmonics of the tone (what the model reads); None = all."""
    if frequency == ALL_FREQUENCIES:
        return None
    bins = int(math.ceil(harmonics * frequency_hz(frequency) * params.n_fft / params.sample_rate)) + 8
    return None if bins >= params.n_fft // 2 + 1 else bins


def default_data_root() -> Path:
    """`$SINETONE_DATA_ROOT`, else the demo data folder of this checkout."""
    env = os.environ.get(DATA_ROOT_ENV)
    return Path(env) if env else Path(__file__).resolve().parent.parent / DEFAULT_DEMO_ROOT


def _same_folder(a: Path, b: Path) -> bool:
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


_SAID: set[tuple[Path, str]] = set()  # which data-root choices were already said (once per process)


def holds_recordings(root: str | Path) -> bool:
    """Whether `root` looks like a data root: it has `deg<angle>/` folders."""
    root = Path(root)
    return root.is_dir() and any(p.is_dir() for p in root.glob("deg[0-9]*"))


def list_data_root(exclusions_file: str | Path) -> tuple[Path | None, Path | None]:
    """(the data root an exclusion list was made from, a recorded root that no longer exists).

    Made from: the `run data root:` its header names, while that folder exists; else the
    folder above `exclusions/` when the list lies in one; else None (a list written by hand
    elsewhere). The second item is the header's root when it is gone (the data moved), else None.
    """
    recorded = list_made_from(exclusions_file)
    if recorded is not None and recorded.is_dir():
        return recorded, None
    path = Path(exclusions_file).resolve()
    above = path.parent.parent if path.parent.name == EXCLUSIONS_DIR else None
    return above, recorded


def resolve_data_root(
    flag: str | Path | None = None,
    recorded: str | Path | None = None,
    inside: str | Path | None = None,
    exclusions_file: str | Path | None = None,
    recorded_as: str = "the earlier step used",
) -> Path:
    """The data root a step works on: the one rule, for every step.

    0. train.py with `exclusions_file` (--exclusions-file): the data root the list was made
       from (`list_data_root`). A `flag` or `$SINETONE_DATA_ROOT` that names another folder
       is refused, naming both; one that names the same folder is used as written;
    1. `flag` (--data-root), when given;
    2. else the data root that holds `inside`, a file or folder one level down in it
       (`DATA_ROOT/checkpoints/<run>`, `DATA_ROOT/metadata/<influence file>`), when it holds
       recordings: the folder the user pointed at. When it is not `recorded`, the data root
       an earlier step wrote down (the run configuration in a checkpoint, the influence run
       file), one logged line says so: a copied data folder is used, not the original;
    3. else `recorded`, while that folder exists;
    4. else the data root that holds `inside` (the data folder moved, or an older file recorded none);
    5. else (train.py without --data-root) `default_data_root()`, which must exist.
    """
    env = os.environ.get(DATA_ROOT_ENV)
    if exclusions_file is not None:
        made_from, gone = list_data_root(exclusions_file)
        given, named_by = (flag, "--data-root") if flag is not None else (env, f"${DATA_ROOT_ENV}") if env else (None, "")
        if made_from is not None:
            if given is not None and not _same_folder(Path(given), made_from):
                raise ValueError(
                    f"the exclusions file {exclusions_file} was made from data root {made_from}, but {named_by} is "
                    f"{given}: pass --data-root {made_from} to retrain on the list's data, or use a list made from {given}"
                )
            return Path(given) if given is not None else made_from
        if gone is not None and given is None:
            raise FileNotFoundError(
                f"the exclusions file {exclusions_file} was made from data root {gone}, which does not exist"
                " (moved?): pass --data-root"
            )
    if flag is not None:
        return Path(flag)
    beside = Path(inside).resolve().parent.parent if inside is not None else None
    if beside is not None and holds_recordings(beside):
        if recorded is not None and Path(recorded).resolve() != beside and (beside, str(recorded)) not in _SAID:
            _SAID.add((beside, str(recorded)))
            log.warning("using data root %s, the one that holds %s (%s %s); pass --data-root to choose",
                        beside, inside, recorded_as, recorded)
        return beside
    if recorded is not None and Path(recorded).is_dir():
        return Path(recorded)
    if beside is not None:
        return beside
    root = default_data_root()
    if not root.exists():
        if env:
            raise FileNotFoundError(f"no --data-root given, and ${DATA_ROOT_ENV} names a folder that does not exist: {root}")
        raise FileNotFoundError(
            f"no --data-root given and ${DATA_ROOT_ENV} is not set, and the demo data folder {root} does not"
            f" exist: make it with `python -m datasets.demo_data --output-root {DEFAULT_DEMO_ROOT}`, or pass --data-root"
        )
    return root


@dataclass
class DatasetConfig:
    data_root: Path
    material: str = DEFAULT_MATERIAL
    frequency: str = DEFAULT_FREQUENCY
    exclusions_file: Path | None = None
    relabel_file: Path | None = None
    metadata_file: Path | None = None
    spectrogram: SpectrogramParams = field(default_factory=SpectrogramParams)
    freq_bins: int | None = None  # keep only the lowest bins (the ones the model reads); None: all
    use_cache: bool = True

    def __post_init__(self) -> None:
        self.data_root = Path(self.data_root)
        if self.frequency not in FREQUENCY_CHOICES:
            raise ValueError(f"unknown frequency {self.frequency!r}: choose one of {', '.join(FREQUENCIES)} or all")
        if self.exclusions_file is not None:
            self.exclusions_file = Path(self.exclusions_file)
        if self.relabel_file is not None:
            self.relabel_file = Path(self.relabel_file)
        if self.metadata_file is not None:
            self.metadata_file = Path(self.metadata_file)

    @property
    def frequencies(self) -> tuple[str, ...]:
        return FREQUENCIES if self.frequency == ALL_FREQUENCIES else (self.frequency,)

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
