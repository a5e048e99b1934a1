"""Finding, loading and checking training checkpoints (never executing code from them)."""
from __future__ import annotations

import logging
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models import build_model
from utils.atomic_io import write_with_atomic
from utils.constants import CHECKPOINT_PREFIX

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
REQUIRED_KEYS = ("model_state", "epoch", "model_class", "model_kwargs")


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


def save_checkpoint(ckpt: dict[str, Any], path: str | Path) -> None:
    """Write a checkpoint dict atomically (temp file + rename): a crash never leaves half a file."""
    write_with_atomic(path, lambda handle: torch.save(ckpt, handle), binary=True)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint dict with `weights_only=True`; corrupt or foreign files give a one-line error."""
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint not found: {path}") from None
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, ValueError, OSError) as exc:
        lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
        # torch's weights-only refusal is many lines; the one naming the forbidden global says why.
        first = next((ln for ln in lines if "Unsupported global" in ln), lines[0] if lines else type(exc).__name__)
        raise ValueError(f"{path}: not a readable checkpoint (truncated, corrupt or unsafe: {first[:200]})") from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED_KEYS):
        missing = [k for k in REQUIRED_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
        raise ValueError(f"{path}: not a checkpoint of this toolkit (missing {', '.join(missing)})")
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any], path: str | Path = "checkpoint") -> nn.Module:
    """Rebuild the model a checkpoint describes and load its weights (strict)."""
    model = build_model(ckpt["model_class"], ckpt["model_kwargs"])
    try:
        model.load_state_dict(ckpt["model_state"], strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else first[0]
        raise ValueError(f"{path}: weights do not fit {ckpt['model_class']} (different architecture: {detail[:200]})") from None
    return model


def checkpoint_learning_rate(ckpt: dict[str, Any], path: str | Path) -> float:
    """The learning rate in force for the checkpoint's epoch; 1.0 (with a warning) when absent."""
    lr = ckpt.get("learning_rate")
    if lr is None:
        log.warning("%s has no learning rate: using 1.0 for its TracIn weight", path)
        return 1.0
    return float(lr)
