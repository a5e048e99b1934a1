"""`ExclusionConfig`: what generate_tracin_exclusions.py is asked to do (importing it needs no torch)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from exclusion.criteria import CRITERIA, DEFAULT_CRITERION
from utils.atomic_io import json_safe
from influence.harm import DEFAULT_MIN_OCCURRENCES, DEFAULT_THRESHOLD
from utils.locking import DEFAULT_LOCK_TIMEOUT

AUTO = "auto"
"""`--threshold auto`, kept for older command lines: it means DEFAULT_THRESHOLD (-3.0). Scores are
robust z-scores (`influence.standardize`), so one threshold fits every run."""
TUTORIAL_FLAGS = ("--threshold", "-3.0", "--min-occurrences", "5", "--max-exclusions", "30", "--consider-both-samples")
"""The rule flags of the tutorial's generate command, to the letter (README, docs/tutorial.zh-TW.md)."""
PLOT_BESIDE = "<beside the list>"
"""`--plot` without a file name: the list's name with `.png`."""


@dataclass
class ExclusionConfig:
    """Everything the flags set; checked here, written into the list header."""

    metadata_file: Path
    output_file: Path | None = None
    threshold: str = str(DEFAULT_THRESHOLD)
    min_occurrences: int = DEFAULT_MIN_OCCURRENCES
    max_exclusions: int = 30
    consider_both_samples: bool = False
    criterion: str = DEFAULT_CRITERION
    update_metadata: bool = False
    plot: Path | None = None
    verbose: bool = False
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT  # seconds to wait for another writer of the metadata folder

    def __post_init__(self) -> None:
        self.metadata_file = Path(self.metadata_file)
        self.output_file = None if self.output_file is None else Path(self.output_file)
        self.plot = None if self.plot is None else Path(self.plot)
        if self.criterion not in CRITERIA:
            raise ValueError(f"unknown criterion {self.criterion!r}: choose one of {', '.join(CRITERIA)}")
        if not (math.isfinite(self.lock_timeout) and self.lock_timeout >= 0):
            raise ValueError(f"--lock-timeout must be a finite number of seconds, got {self.lock_timeout}")
        if self.min_occurrences < 1:
            raise ValueError(f"--min-occurrences must be at least 1, got {self.min_occurrences}")
        if self.max_exclusions < 1:
            raise ValueError(f"--max-exclusions must be at least 1, got {self.max_exclusions}")
        if self.threshold != AUTO:
            try:
                value = float(self.threshold)
            except ValueError:
                raise ValueError(f"--threshold must be a number or 'auto', got {self.threshold!r}") from None
            if not math.isfinite(value):
                raise ValueError(f"--threshold must be a finite number, got {self.threshold!r}")

    @property
    def threshold_value(self) -> float:
        return DEFAULT_THRESHOLD if self.threshold == AUTO else float(self.threshold)

    @property
    def plot_beside_list(self) -> bool:
        return self.plot is not None and str(self.plot) == PLOT_BESIDE

    def to_dict(self) -> dict[str, Any]:
        return json_safe(asdict(self))
