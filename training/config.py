"""`TrainConfig`: the typed configuration of one training run (importing it needs no torch).

It is the run's single source of truth for every later step: train.py fills it from its
flags, `train()` saves `to_dict()` in run.json and in every checkpoint (key "config"), and
compute_tracin_influence.py reads it back with `from_dict()` to learn the run's data root,
spectrogram parameters and run folder.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from datasets.config import (
    DEFAULT_SPLIT,
    DatasetConfig,
    SpectrogramParams,
    default_data_root,
    harmonic_bins,
    resolve_data_root,
)
from datasets.stamps import check_one_generate_run
from losses.config import (
    DEFAULT_GHM_ALPHA,
    DEFAULT_GHM_BINS,
    DEFAULT_GHM_MOMENTUM,
    DEFAULT_LOSS_TYPE,
    DEFAULT_MARGIN,
)
from models.presets import DEFAULT_MODEL, MODEL_PRESETS
from utils.atomic_io import json_safe
from utils.constants import CHECKPOINTS_DIR, DEFAULT_MATERIAL
from utils.locking import DEFAULT_LOCK_TIMEOUT, check_lock_timeout

LR_SCHEDULES = ("cosine", "constant")
MAX_EPOCHS = 100_000
EXECUTION_ONLY = ("progress", "overwrite", "resume", "lock_timeout")
"""Fields that change how a run is carried out, not what it learns (`--resume` may change them)."""


@dataclass
class TrainConfig:
    frequency: str
    material: str = DEFAULT_MATERIAL
    data_root: Path = field(default_factory=default_data_root)
    loss_type: str = DEFAULT_LOSS_TYPE
    margin: float = DEFAULT_MARGIN
    ghm_bins: int = DEFAULT_GHM_BINS
    ghm_alpha: float = DEFAULT_GHM_ALPHA
    ghm_momentum: float = DEFAULT_GHM_MOMENTUM
    model: str = DEFAULT_MODEL  # a size of models.presets
    epochs: int = 30
    checkpoint_interval: int = 1  # every epoch: TracIn's signal is early, before the model fits every pair (docs/design.md)
    learning_rate: float = 3e-3
    lr_schedule: str = LR_SCHEDULES[0]
    weight_decay: float = 1e-4
    batch_size: int = 16  # recordings per step; each step trains on every cross-angle pair among them
    seed: int = 0
    split_seed: int = 0
    split_fractions: tuple[float, float, float] = DEFAULT_SPLIT
    device: str = "auto"
    exclusions_file: Path | None = None
    relabel_file: Path | None = None
    metadata_file: Path | None = None
    run_name: str | None = None
    overwrite: bool = False
    allow_unknown_exclusions: bool = False
    # The spectrogram settings a run may change; the others keep SpectrogramParams' defaults.
    n_fft: int = SpectrogramParams.n_fft
    hop_length: int = SpectrogramParams.hop_length
    progress: bool = True
    resume: bool = False  # continue the killed run in run_dir from its last checkpoint
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT  # seconds to wait for another writer of the run folder

    def __post_init__(self) -> None:
        self.data_root = Path(self.data_root)
        self.exclusions_file = None if self.exclusions_file is None else Path(self.exclusions_file)
        self.relabel_file = None if self.relabel_file is None else Path(self.relabel_file)
        self.metadata_file = None if self.metadata_file is None else Path(self.metadata_file)
        self.split_fractions = tuple(self.split_fractions)
        self.validate()

    def validate(self) -> None:
        """Every number within range and finite, each error naming its flag (before any work is done)."""
        def whole(flag: str, value: Any, low: int, high: int) -> None:
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"--{flag} must be a whole number from {low} to {high}, got {value!r}")

        def number(flag: str, value: Any, low: float, high: float = math.inf, low_open: bool = False,
                   high_open: bool = False) -> None:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
            if not ok:
                where = f"{'above' if low_open else 'at least'} {low:g}" + ("" if high == math.inf else
                                                                            f" and {'below' if high_open else 'at most'} {high:g}")
                raise ValueError(f"--{flag} must be a finite number {where}, got {value!r}")

        whole("epochs", self.epochs, 1, MAX_EPOCHS)
        whole("checkpoint-interval", self.checkpoint_interval, 1, MAX_EPOCHS)
        whole("batch-size", self.batch_size, 1, 10**7)
        if self.batch_size < 2:
            raise ValueError(f"--batch-size {self.batch_size}: each step trains on the pairs among its recordings, and one "
                             "recording makes no pair, so nothing would train: pass --batch-size 2 or more (default 16)")
        whole("seed", self.seed, 0, 2**63 - 1)
        whole("split-seed", self.split_seed, 0, 2**32 - 1)
        whole("ghm-bins", self.ghm_bins, 1, 10**6)
        whole("n-fft", self.n_fft, 16, 2**20)
        whole("hop-length", self.hop_length, 1, 2**20)
        number("learning-rate", self.learning_rate, 0.0, low_open=True)
        number("weight-decay", self.weight_decay, 0.0)
        number("margin", self.margin, 0.0)
        number("ghm-alpha", self.ghm_alpha, 0.0)
        number("ghm-momentum", self.ghm_momentum, 0.0, 1.0, high_open=True)
        check_lock_timeout(self.lock_timeout)
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown --lr-schedule {self.lr_schedule!r}: choose one of {', '.join(LR_SCHEDULES)}")
        if self.resume and self.overwrite:
            raise ValueError("--resume continues the run in its folder and --overwrite replaces it: pass one of them")
        if self.model not in MODEL_PRESETS:
            raise ValueError(f"unknown --model {self.model!r}: choose one of {', '.join(MODEL_PRESETS)}")

    def check_input_files(self) -> None:
        """The exclusion list and relabel file exist, and each one's set is of one generate run
        (`datasets.stamps`): one line, before any work."""
        for path, what in ((self.exclusions_file, "exclusions file"), (self.relabel_file, "relabel file")):
            if path is not None and path.is_dir():
                raise IsADirectoryError(f"{what} {path} is a folder: name the file in it")
            if path is not None and not path.is_file():
                raise FileNotFoundError(f"{what} not found: {path}")
        check_one_generate_run(self.exclusions_file, self.relabel_file)

    def default_run_name(self) -> str:
        """`{material}_{frequency}_{loss}`; with exclusions `..._excl_{file stem}`, with relabels
        `..._relabel_{file stem}`, so the baseline survives."""
        base = f"{self.material}_{self.frequency}_{self.loss_type}"
        if self.exclusions_file:
            base += f"_excl_{self.exclusions_file.stem}"
        if self.relabel_file:
            base += f"_relabel_{self.relabel_file.stem}"
        return base

    @property
    def run_dir(self) -> Path:
        """`DATA_ROOT/checkpoints/<run name>`: where the run's checkpoints and files go."""
        return self.data_root / CHECKPOINTS_DIR / (self.run_name or self.default_run_name())

    @property
    def spectrogram_params(self) -> SpectrogramParams:
        return SpectrogramParams(n_fft=self.n_fft, hop_length=self.hop_length)

    def model_kwargs(self) -> dict[str, Any]:
        """The model's constructor arguments: the `model` preset, reading the bins of the tone's harmonics."""
        return {**MODEL_PRESETS[self.model], "max_freq_bins": harmonic_bins(self.frequency, self.spectrogram_params)}

    def dataset_config(self, **overrides: Any) -> DatasetConfig:
        """The recordings this run trains on (`overrides` replace fields, e.g. another data root)."""
        config = DatasetConfig(
            data_root=self.data_root,
            material=self.material,
            frequency=self.frequency,
            exclusions_file=self.exclusions_file,
            relabel_file=self.relabel_file,
            metadata_file=self.metadata_file,
            spectrogram=self.spectrogram_params,
            freq_bins=harmonic_bins(self.frequency, self.spectrogram_params),
        )
        return replace(config, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as run.json and every checkpoint store it; the data root is made absolute."""
        return json_safe({**asdict(self), "data_root": self.data_root.resolve()})

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Read back `to_dict()`: missing keys (older runs) take their defaults, unknown keys are ignored."""
        if not isinstance(values, Mapping) or "frequency" not in values:
            raise ValueError("the run configuration names no frequency")
        names = {f.name for f in fields(cls) if f.init}
        return cls(**{k: v for k, v in values.items() if k in names})


PER_FREQUENCY = ("exclusions_file", "relabel_file", "metadata_file", "run_name")
"""Settings that differ per frequency: with several frequencies, `{frequency}` in them becomes each one."""


def for_frequencies(template: TrainConfig, frequencies: list[str], data_root_flag: str | Path | None) -> list[TrainConfig]:
    """`template` once per frequency (train.py --frequency / --frequencies), in order, duplicates dropped.

    `{frequency}` in `PER_FREQUENCY` settings becomes each frequency; with several
    frequencies each of them must contain it. Each run's data root is decided by
    `resolve_data_root` (the flag, the list's data root, ...). train.py checks every run
    folder (`training.run_folder.check_run_folder`) before the first one trains.
    """
    configs = []
    for frequency in dict.fromkeys(frequencies):
        values = {k: getattr(template, k) for k in PER_FREQUENCY}
        for key, value in values.items():
            if value is not None and len(frequencies) > 1 and "{frequency}" not in str(value):
                raise ValueError(f"--{key.replace('_', '-')} {value} would serve every frequency: write {{frequency}} in it")
            values[key] = None if value is None else type(value)(str(value).replace("{frequency}", frequency))
        replace(template, frequency=frequency, **values).check_input_files()
        # The list, or else the relabel file beside it, says which data root it was made from.
        root = resolve_data_root(data_root_flag, exclusions_file=values["exclusions_file"] or values["relabel_file"])
        configs.append(replace(template, frequency=frequency, data_root=root, **values))
    return configs
