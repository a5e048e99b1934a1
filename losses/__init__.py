"""Pair losses: `standard` (margin ranking) and `ghm` (GHM-weighted logistic).

The names below load on first use (PEP 562), so `losses.config` is importable without torch.
"""
from __future__ import annotations

from losses.config import LOSS_TYPES
from utils.lazy import lazy_getattr

_EXPORTS = {
    "PairLoss": "losses.base",
    "GHMPairLoss": "losses.ghm",
    "MarginRankingPairLoss": "losses.standard",
    "build_loss": "losses.build",
    "loss_from_config": "losses.build",
}

__all__ = ["LOSS_TYPES", *_EXPORTS]

__getattr__ = lazy_getattr(__name__, _EXPORTS)
