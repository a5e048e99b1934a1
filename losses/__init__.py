"""Pair losses: `standard` (margin ranking) and `ghm` (GHM-weighted logistic).

The names below load on first use (PEP 562), so `losses.config` is importable without torch.
"""
from __future__ import annotations

import importlib
from typing import Any

from losses.config import LOSS_TYPES

_EXPORTS = {
    "PairLoss": "losses.base",
    "GHMPairLoss": "losses.ghm",
    "MarginRankingPairLoss": "losses.standard",
    "build_loss": "losses.build",
    "loss_from_config": "losses.build",
}

__all__ = ["LOSS_TYPES", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
