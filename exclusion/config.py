"""`ExclusionConfig`: what generate_tracin_exclusions.py is asked to do (importing it needs no torch)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from exclusion.criteria import CRITERIA, DEFAULT_CRITERION
from utils.atomic_io import json_safe
from influence.config import DEFAULT_MIN_OCCURRENCES, DEFAULT_THRESHOLD
from utils.locking import DEFAULT_LOCK_TIMEOUT, check_lock_timeout

AUTO = "auto"
"""`--threshold auto`, kept for older command lines: it means DEFAULT_THRESHOLD (-3.0). Scores are
robust z-scores (`influence.standardize`), so one threshold fits every run."""
TUTORIAL_FLAGS = ("--threshold", "-3.0", "--min-occurrences", "5", "--max-exclusions", "30", "--consider-both-samples")
"""The rule flags of the tutorial's generate command, to the letter (README, docs/tutorial.zh-TW.md)."""
PLOT_BESIDE = "<beside the list>"
"""`--plot` without a file name: the list's name with `.png`."""


@dataclass(frozen=True)
class RuleParams:
    """The flags a rule reads (`exclusion.rules`), checked once, in `ExclusionConfig`. `forbidden`: the ids
    commented out by hand in the list (never listed)."""

    threshold: float
    min_occurrences: int
    max_exclusions: int | None
    consider_both: bool = False
    forbidden: frozenset[str] = frozenset()


@dataclass
class ExclusionConfig:
    """Everything the flags set; checked here, once (the library trusts it), written into the list header.

    `threshold` is given as a number or as `AUTO` (older command lines) and kept as a number;
    `auto_threshold` says which it was."""

    metadata_file: Path
    output_file: Path | None = None
    threshold: float | str = DEFAULT_THRESHOLD
    min_occurrences: int = DEFAULT_MIN_OCCURRENCES
    max_exclusions: int = 30
    consider_both_samples: bool = False
    criterion: str = DEFAULT_CRITERION
    update_metadata: bool = False
    plot: Path | None = None
    verbose: bool = False
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT  # seconds to wait for another writer of the metadata folder
    auto_threshold: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.metadata_file = Path(self.metadata_file)
        self.output_file = None if self.output_file is None else Path(self.output_file)
        self.plot = None if self.plot is None else Path(self.plot)
        if self.criterion not in CRITERIA:
            raise ValueError(f"unknown criterion {self.criterion!r}: choose one of {', '.join(CRITERIA)}")
        self.lock_timeout = check_lock_timeout(self.lock_timeout)
        if self.min_occurrences < 1:
            raise ValueError(f"--min-occurrences must be at least 1, got {self.min_occurrences}")
        if self.max_exclusions < 1:
            raise ValueError(f"--max-exclusions must be at least 1, got {self.max_exclusions}")
        self.auto_threshold = self.threshold == AUTO
        self.threshold = DEFAULT_THRESHOLD if self.auto_threshold else _number(self.threshold)

    def rule_params(self, forbidden: Iterable[str] = ()) -> RuleParams:
        """What the rules read, with the ids commented out by hand."""
        return RuleParams(self.threshold, self.min_occurrences, self.max_exclusions, self.consider_both_samples,
                          frozenset(forbidden))

    @property
    def plot_beside_list(self) -> bool:
        """`--plot` without a file name: the picture goes beside the list."""
        return self.plot is not None and str(self.plot) == PLOT_BESIDE

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the debug log prints it)."""
        return json_safe(asdict(self))


def _number(text: float | str) -> float:
    """`--threshold`: a finite number (one line naming the flag otherwise)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--threshold must be a number or '{AUTO}', got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"--threshold must be a finite number, got {text!r}")
    return value
