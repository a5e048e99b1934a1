"""What step 2 writes for step 3, as a typed record: `InfluenceRun`, the influence run file
(`{m}_{f}_influence_run.json`, also the `.npz`'s `info_json`). Every key is named here, once
(`to_dict` writes them, `from_dict` reads them back); readers get attributes.

Run files of earlier versions, or of other tools, still load: what they lack or hold in another
shape reads as None (or empty), never as an error, since nothing in them is needed to read
the scores. Importing this needs no torch.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

from influence.config import InfluenceConfig
from training.config import TrainConfig
from utils.atomic_io import read_json
from utils.hashing import file_digest

SCALE = "robust z among training items of the same angles, per validation pair (influence.standardize)"
"""The scale of the scores compute writes: a nested JSON of a run file that names it is already standardised."""
_QUANTILES_KEY = "quantiles_of_each_pairs_{k}th_lowest_z"
_QUANTILES_RE = re.compile(r"^quantiles_of_each_pairs_(\d+)th_lowest_z$")
T = TypeVar("T")


def _typed(value: Any, kind: type | tuple[type, ...]) -> Any:
    """`value` when it is of `kind` (bools are not numbers), else None."""
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        return None
    return value if isinstance(value, kind) else None


def _parsed(value: Any, read: Callable[[Mapping[str, Any]], T]) -> T | None:
    """`read(value)` for a mapping it can read, else None."""
    if not isinstance(value, Mapping):
        return None
    try:
        return read(value)
    except (TypeError, ValueError, KeyError):
        return None


@dataclass
class CheckpointUse:
    """One checkpoint a run used: its epoch, file, TracIn weight (learning rate) and the file's identity."""

    epoch: int
    path: str
    eta: float
    bytes: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        """As the run file stores it."""
        return {"epoch": self.epoch, "path": self.path, "eta": self.eta, "bytes": self.bytes, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> CheckpointUse:
        """Read back `to_dict()` (a KeyError or ValueError when it cannot be: `InfluenceRun` reads it as None)."""
        return cls(int(values["epoch"]), str(values.get("path", "")), _typed(values.get("eta"), (int, float)),
                   _typed(values.get("bytes"), int), _typed(values.get("sha256"), str))


@dataclass
class ColumnsScored:
    """How many validation pairs the pair scores count on, of how many, and whether they are a seeded sample."""

    scored: int
    of: int
    sample: bool

    def to_dict(self) -> dict[str, Any]:
        """As the run file stores it."""
        return {"scored": self.scored, "of": self.of, "sample": self.sample}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ColumnsScored:
        """Read back `to_dict()` (a KeyError or ValueError when it cannot be: `InfluenceRun` reads it as None)."""
        return cls(int(values["scored"]), int(values["of"]), bool(values.get("sample", False)))


@dataclass
class FileIdentity:
    """A file's name, size and sha256: how the run file identifies the nested JSON written with it."""

    file: str
    bytes: int
    sha256: str

    @classmethod
    def of(cls, path: str | Path) -> FileIdentity:
        """The identity of the file at `path` (it is read whole)."""
        size, digest = file_digest(path)
        return cls(Path(path).name, size, digest)

    def to_dict(self) -> dict[str, Any]:
        """As the run file stores it."""
        return {"file": self.file, "bytes": self.bytes, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> FileIdentity:
        """Read back `to_dict()` (a KeyError or ValueError when it cannot be: `InfluenceRun` reads it as None)."""
        return cls(str(values.get("file", "")), values.get("bytes"), values.get("sha256"))


@dataclass
class InfluenceSummary:
    """What compute prints: sizes, pairs without gradient, the harmful pairs under the tutorial's rule and the
    quantiles of each pair's `quantile_rank`-th lowest score (`influence.harm.LowScores.deciding_scores`)."""

    train_pairs: int
    validation_pairs: int
    training_recordings: int
    train_pairs_without_gradient: int
    validation_pairs_without_gradient: int
    harmful_pairs: int | None = None
    quantile_rank: int | None = None
    quantiles: dict[str, float] | None = None
    seconds: float | None = None
    """The whole run's seconds, loading and writing included."""
    seconds_tracin: float | None = None
    """TracIn's own seconds: gradients, scores and summaries (not loading, the harmonic profiles or writing)."""

    def to_dict(self) -> dict[str, Any]:
        """As the run file stores it: the quantiles under a key that names their rank, as earlier versions wrote."""
        out: dict[str, Any] = {
            "train_pairs": self.train_pairs, "validation_pairs": self.validation_pairs,
            "training_recordings": self.training_recordings,
            "train_pairs_without_gradient_at_every_checkpoint": self.train_pairs_without_gradient,
            "validation_pairs_without_gradient_at_every_checkpoint": self.validation_pairs_without_gradient,
        }
        if self.harmful_pairs is not None:
            out["harmful_pairs_at_default_rule"] = self.harmful_pairs
            out[_QUANTILES_KEY.format(k=self.quantile_rank)] = self.quantiles
        if self.seconds is not None:
            out["seconds"] = self.seconds
        if self.seconds_tracin is not None:
            out["seconds_tracin"] = self.seconds_tracin
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> InfluenceSummary:
        """Read back `to_dict()` (a KeyError or ValueError when it cannot be: `InfluenceRun` reads it as None)."""
        rank, quantiles = None, None
        for key, value in values.items():
            if (found := _QUANTILES_RE.match(key)) and isinstance(value, Mapping):
                rank, quantiles = int(found.group(1)), dict(value)
        return cls(int(values["train_pairs"]), int(values["validation_pairs"]), int(values["training_recordings"]),
                   int(values["train_pairs_without_gradient_at_every_checkpoint"]),
                   int(values["validation_pairs_without_gradient_at_every_checkpoint"]),
                   values.get("harmful_pairs_at_default_rule"), rank, quantiles, values.get("seconds"),
                   values.get("seconds_tracin"))


@dataclass
class InfluenceRun:
    """One compute run: its fingerprint (`influence.fingerprint`), when, with which settings, on which
    checkpoints and data, and what it wrote (see docs/design.md, Files)."""

    fingerprint: str | None = None
    created: str | None = None
    config: InfluenceConfig | None = None
    data_root: str | None = None
    seed: int | None = None
    run_config: TrainConfig | None = None
    checkpoints: list[CheckpointUse] = field(default_factory=list)
    loss_type: str | None = None
    loss_config: dict[str, Any] = field(default_factory=dict)
    measurement: str | None = None
    scale: str | None = None
    validation_pairs_scored: ColumnsScored | None = None
    projection_dim: int | None = None
    """The CountSketch's size (None: exact gradients)."""
    processes: int | None = None
    device: str | None = None
    dtype: str | None = None
    summary: InfluenceSummary | None = None
    nested_json: str | None = None
    """What the nested JSON holds (`influence.nested_json.NESTED_FULL` / `NESTED_HARMFUL`); None: not written."""
    influence_json: FileIdentity | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, in the order compute writes it."""
        out = {
            "fingerprint": self.fingerprint, "created": self.created,
            "config": None if self.config is None else self.config.to_dict(), "data_root": self.data_root,
            "seed": self.seed, "run_config": None if self.run_config is None else self.run_config.to_dict(),
            "checkpoints": [c.to_dict() for c in self.checkpoints], "loss_type": self.loss_type,
            "loss_config": self.loss_config, "measurement": self.measurement, "scale": self.scale,
            "validation_pairs_scored": None if self.validation_pairs_scored is None else
            self.validation_pairs_scored.to_dict(),
            "projection": None if self.projection_dim is None else {"dim": self.projection_dim, "kind": "CountSketch"},
            "processes": self.processes, "device": self.device, "dtype": self.dtype,
        }
        if self.summary is not None:
            out["summary"] = self.summary.to_dict()
        out["nested_json"] = self.nested_json
        out["influence_json"] = None if self.influence_json is None else self.influence_json.to_dict()
        return out

    @classmethod
    def from_dict(cls, values: Any) -> InfluenceRun:
        """Read a run file's contents back; anything unreadable in it reads as None (module docstring)."""
        if not isinstance(values, Mapping):
            return cls()
        strings = {k: _typed(values.get(k), str) for k in ("fingerprint", "created", "data_root", "loss_type",
                                                           "measurement", "scale", "device", "dtype", "nested_json")}
        projection = values.get("projection")
        checkpoints = values.get("checkpoints") if isinstance(values.get("checkpoints"), list) else []
        return cls(
            **strings, seed=_typed(values.get("seed"), int), processes=_typed(values.get("processes"), int),
            config=_parsed(values.get("config"), InfluenceConfig.from_dict),
            run_config=_parsed(values.get("run_config"), TrainConfig.from_dict),
            checkpoints=[c for c in (_parsed(v, CheckpointUse.from_dict) for v in checkpoints) if c is not None],
            loss_config=dict(values.get("loss_config") or {}) if isinstance(values.get("loss_config"), Mapping) else {},
            validation_pairs_scored=_parsed(values.get("validation_pairs_scored"), ColumnsScored.from_dict),
            projection_dim=_typed(projection.get("dim"), int) if isinstance(projection, Mapping) else None,
            summary=_parsed(values.get("summary"), InfluenceSummary.from_dict),
            influence_json=_parsed(values.get("influence_json"), FileIdentity.from_dict),
        )

    @classmethod
    def read(cls, path: str | Path) -> InfluenceRun:
        """The run file at `path`; an empty record when there is none (files written before run files existed)."""
        path = Path(path)
        return cls.from_dict(read_json(path, "influence run file")) if path.is_file() else cls()
