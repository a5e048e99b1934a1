"""Finding, loading and checking training checkpoints (never executing code from them); what a
checkpoint holds is `training.records.CheckpointRecord`."""
from __future__ import annotations

import io
import logging
import math
import pickle
import re
import zipfile
from pathlib import Path
import torch
from torch import nn

from models import build_model
from training.records import CheckpointRecord
from utils.atomic_io import write_with_atomic
from utils.constants import CHECKPOINT_PREFIX

log = logging.getLogger(__name__)


def list_checkpoints(folder: str | Path, prefix: str = CHECKPOINT_PREFIX) -> list[tuple[int, Path]]:
    """`(epoch, path)` of `{prefix}_{epoch}.pt` files, ordered by epoch number (not as strings)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"checkpoint folder not found: {folder}")
    pattern = re.compile(rf"^{re.escape(prefix)}_(\d+)\.pt$")
    found = sorted(
        (int(m.group(1)), p) for p in folder.iterdir() if (m := pattern.match(p.name)) and p.is_file()
    )
    if not found:
        held = sorted(p.name for p in folder.iterdir())
        shown = ", ".join(held[:10]) + (f" ... ({len(held)} in all)" if len(held) > 10 else "")
        raise FileNotFoundError(
            f"no checkpoint in {folder} matches '{prefix}_<epoch>.pt'; the folder holds: {shown or 'nothing'}"
        )
    return found


def save_checkpoint(ckpt: CheckpointRecord, path: str | Path) -> None:
    """Write a checkpoint atomically (temp file + rename): a crash never leaves half a file."""
    write_with_atomic(path, lambda handle: torch.save(ckpt.to_dict(), handle), binary=True)


_FORBIDDEN_GLOBAL_RE = re.compile(r"GLOBAL\s+([\w.]+)", re.IGNORECASE)


def _load_error(path: Path, exc: BaseException) -> ValueError:
    """One line for a checkpoint torch.load refused: the forbidden global when there is one."""
    text = str(exc)
    forbidden = _FORBIDDEN_GLOBAL_RE.search(text) if "unsupported global" in text.lower() else None
    if forbidden:
        return ValueError(
            f"{path}: refused as unsafe: loading it would call {forbidden.group(1)} (torch: unsupported GLOBAL"
            f" {forbidden.group(1)}); checkpoints are loaded with weights_only=True, so use only checkpoints"
            " written by this toolkit's train.py"
        )
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    first = lines[0] if lines else type(exc).__name__
    return ValueError(f"{path}: not a readable checkpoint (truncated, corrupt or unsafe: {type(exc).__name__}: {first})")


def load_checkpoint(path: str | Path, data: bytes | None = None) -> CheckpointRecord:
    """Load a checkpoint with `weights_only=True`; corrupt or foreign files give a one-line error.

    `data`, when given, are the file's bytes already read (hashed by the caller): the
    checkpoint is loaded from them, so what was hashed is what was loaded.
    """
    path = Path(path)
    try:
        source = path if data is None else io.BytesIO(data)
        ckpt = torch.load(source, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint not found: {path}") from None
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError,
            AttributeError) as exc:
        raise _load_error(path, exc) from None
    return CheckpointRecord.from_dict(ckpt, path)


def model_from_checkpoint(ckpt: CheckpointRecord, path: str | Path = "checkpoint") -> nn.Module:
    """Rebuild the model a checkpoint describes and load its weights (strict)."""
    model = build_model(ckpt.model_class, ckpt.model_kwargs)
    try:
        model.load_state_dict(ckpt.model_state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else first[0]
        raise ValueError(f"{path}: weights do not fit {ckpt.model_class} (different architecture: {detail[:200]})") from None
    return model


def checkpoint_learning_rate(ckpt: CheckpointRecord, path: str | Path, assume: float | None = None) -> float:
    """The learning rate in force for the checkpoint's epoch (TracIn weighs the checkpoint by it).

    A checkpoint without one is an error naming the file, unless `assume` (--assume-learning-rate)
    gives the value to use; a stored rate that is not a finite positive number is always an error.
    """
    lr = ckpt.learning_rate
    if lr is None:
        if assume is None:
            raise ValueError(
                f"{path} stores no learning rate, and TracIn weighs each checkpoint by it: pass"
                " --assume-learning-rate X to use X for checkpoints without one"
            )
        log.warning("%s has no learning rate: using --assume-learning-rate %g for its TracIn weight", path, assume)
        return float(assume)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"{path}: its learning rate {lr!r} is not a finite positive number")
    return float(lr)
