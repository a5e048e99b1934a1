"""What step 1 writes for the later steps, as typed records: every key of a checkpoint and of run.json
is named here, once (`to_dict` writes them, `from_dict` reads them back); readers get attributes.

- `CheckpointRecord`: one `model_checkpoint_epoch_<E>.pt` (loaded with `weights_only=True`,
  `training.checkpoints.load_checkpoint`): the weights and what TracIn needs (epoch, learning
  rate, the run's configuration, split, exclusions, model and loss), and what `--resume` needs
  (optimizer and loss state, every random state, the history so far).
- `TrainingRun`: the run folder's `run.json`: the configuration, seed, split by sample id,
  exclusions, relabels, counts; `complete` is false until train.py rewrites it last.

Files of earlier versions still load: a key they lack (or a configuration this version cannot
read) takes its default, None where nothing can stand for it; only what every reader needs is
required. Importing this needs no torch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from training.config import TrainConfig
from utils.atomic_io import read_json
from utils.constants import K_FINAL_EPOCH, K_RUN_COMPLETE, RUN_FILE

if TYPE_CHECKING:
    import torch

CHECKPOINT_FORMAT = 1
REQUIRED_KEYS = ("model_state", "epoch", "model_class", "model_kwargs")
"""What a checkpoint of any version of this toolkit holds; a file without them is not one."""
Split = dict[str, list[str]]
"""Split name (train, validation, holdout) -> sample ids."""


def _train_config(values: Any) -> TrainConfig | None:
    """The run configuration stored under "config"; None when the file has none, or none this version can read
    (the readers that need one say so, naming the file)."""
    try:
        return TrainConfig.from_dict(values) if isinstance(values, Mapping) else None
    except (TypeError, ValueError):
        return None


@dataclass
class CheckpointRecord:
    """One checkpoint's contents (see the module docstring)."""

    epoch: int
    model_state: dict[str, torch.Tensor]
    model_class: str
    model_kwargs: dict[str, Any]
    learning_rate: float | None = None
    config: TrainConfig | None = None
    seed: int | None = None
    optimizer_state: dict[str, Any] | None = None
    loss_type: str | None = None
    loss_config: dict[str, Any] = field(default_factory=dict)
    loss_state: dict[str, Any] | None = None
    split: Split | None = None
    excluded_ids: list[str] = field(default_factory=list)
    rng_state: dict[str, Any] | None = None
    """Every random state (`utils.seeding.rng_state`): with `history`, what `--resume` needs."""
    history: list[dict[str, Any]] | None = None
    format_version: int = CHECKPOINT_FORMAT

    def to_dict(self) -> dict[str, Any]:
        """What `torch.save` writes: plain containers and tensors only (loadable with `weights_only=True`)."""
        return {
            "format_version": self.format_version,
            "model_state": self.model_state,
            "optimizer_state": self.optimizer_state,
            "epoch": self.epoch,
            "learning_rate": self.learning_rate,
            "config": None if self.config is None else self.config.to_dict(),
            "seed": self.seed,
            "model_class": self.model_class,
            "model_kwargs": self.model_kwargs,
            "loss_type": self.loss_type,
            "loss_config": self.loss_config,
            "loss_state": self.loss_state,
            "split": self.split,
            "excluded_ids": self.excluded_ids,
            "rng_state": self.rng_state,
            "history": self.history,
        }

    @classmethod
    def from_dict(cls, values: Any, path: str | Path = "checkpoint") -> CheckpointRecord:
        """Read a loaded checkpoint back; one ValueError naming `path` when it is not one of this toolkit."""
        missing = [k for k in REQUIRED_KEYS if not isinstance(values, Mapping) or k not in values]
        if missing:
            raise ValueError(f"{path}: not a checkpoint of this toolkit (missing {', '.join(missing)})")
        optional = {k: values[k] for k in ("learning_rate", "seed", "optimizer_state", "loss_type", "loss_state",
                                           "split", "rng_state", "history") if values.get(k) is not None}
        return cls(
            epoch=values["epoch"], model_state=values["model_state"], model_class=values["model_class"],
            model_kwargs=values["model_kwargs"], config=_train_config(values.get("config")),
            loss_config=dict(values.get("loss_config") or {}), excluded_ids=list(values.get("excluded_ids") or []),
            format_version=values.get("format_version", CHECKPOINT_FORMAT), **optional,
        )

    @property
    def saved_loss_type(self) -> str | None:
        """The loss it was trained with: its own `loss_type`, else its configuration's (older checkpoints)."""
        return self.loss_type or (self.config.loss_type if self.config is not None else None)

    def same_run_fields(self) -> dict[str, Any]:
        """What every checkpoint of one run shares: architecture, split and exclusions."""
        return {"model_class": self.model_class, "model_kwargs": self.model_kwargs, "split": self.split,
                "excluded_ids": self.excluded_ids}


@dataclass
class Resumed:
    """One `--resume` of a run: after which epoch, and when."""

    after_epoch: int
    at: str

    def to_dict(self) -> dict[str, Any]:
        """As run.json stores it."""
        return {"after_epoch": self.after_epoch, "at": self.at}


@dataclass
class TrainingRun:
    """A run folder's run.json (see the module docstring)."""

    config: TrainConfig | None
    seed: int | None = None
    split: Split | None = None
    excluded_ids: list[str] = field(default_factory=list)
    unknown_excluded_ids: list[str] = field(default_factory=list)
    relabeled: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    device: str | None = None
    created: str | None = None
    threads: int | None = None
    complete: bool | None = False
    """None: a run.json of a version that did not record it (`influence.run_inputs.check_run_complete` then asks for summary.json)."""
    resumed: list[Resumed] = field(default_factory=list)
    final_epoch: int | None = None
    finished: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, in the order train.py writes it; `resumed`, `final_epoch` and `finished` once they happened."""
        out: dict[str, Any] = {
            "config": None if self.config is None else self.config.to_dict(), "seed": self.seed, "split": self.split,
            "excluded_ids": self.excluded_ids, "unknown_excluded_ids": self.unknown_excluded_ids,
            "relabeled": self.relabeled, "counts": self.counts, "device": self.device, "created": self.created,
            "threads": self.threads, K_RUN_COMPLETE: self.complete,
        }
        if self.resumed:
            out["resumed"] = [r.to_dict() for r in self.resumed]
        if self.final_epoch is not None:
            out[K_FINAL_EPOCH] = self.final_epoch
        if self.finished is not None:
            out["finished"] = self.finished
        return out

    @classmethod
    def from_dict(cls, values: Any, path: str | Path = RUN_FILE) -> TrainingRun:
        """Read run.json back (older files: missing keys take their defaults); one ValueError naming `path`."""
        if not isinstance(values, Mapping):
            raise ValueError(f"run file {path} holds no JSON object")
        lists = {k: list(values.get(k) or []) for k in ("excluded_ids", "unknown_excluded_ids")}
        maps = {k: dict(values.get(k) or {}) for k in ("relabeled", "counts")}
        plain = {k: values.get(k) for k in ("seed", "split", "device", "created", "threads", "finished")}
        return cls(
            config=_train_config(values.get("config")), **lists, **maps, **plain,
            complete=values.get(K_RUN_COMPLETE) is True if K_RUN_COMPLETE in values else None,
            resumed=[Resumed(r.get("after_epoch"), r.get("at")) for r in values.get("resumed") or []
                     if isinstance(r, Mapping)],
            final_epoch=values.get(K_FINAL_EPOCH),
        )

    @classmethod
    def read(cls, run_dir: str | Path) -> TrainingRun:
        """`run_dir/run.json`; FileNotFoundError when absent, one ValueError when unreadable."""
        path = Path(run_dir) / RUN_FILE
        return cls.from_dict(read_json(path, "run file"), path)
