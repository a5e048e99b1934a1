"""Building a pair loss by name, for training and from a checkpoint."""
from __future__ import annotations

from losses.base import PairLoss
from losses.config import (
    DEFAULT_GHM_ALPHA,
    DEFAULT_GHM_BINS,
    DEFAULT_GHM_MOMENTUM,
    DEFAULT_MARGIN,
    LOSS_TYPES,
)
from losses.ghm import GHMPairLoss
from losses.standard import MarginRankingPairLoss


def build_loss(loss_type: str, margin: float = DEFAULT_MARGIN, ghm_bins: int = DEFAULT_GHM_BINS,
               ghm_alpha: float = DEFAULT_GHM_ALPHA, ghm_momentum: float = DEFAULT_GHM_MOMENTUM) -> PairLoss:
    """The pair loss named `loss_type` with its settings."""
    if loss_type == "standard":
        return MarginRankingPairLoss(margin)
    if loss_type == "ghm":
        return GHMPairLoss(ghm_bins, ghm_alpha, ghm_momentum)
    raise ValueError(f"unknown loss type {loss_type!r}: choose one of {', '.join(LOSS_TYPES)}")


def loss_from_config(loss_type: str, config: dict) -> PairLoss:
    """Rebuild a loss from the `loss_config` a checkpoint stores."""
    if loss_type == "standard":
        return MarginRankingPairLoss(**config)
    if loss_type == "ghm":
        return GHMPairLoss(**config)
    raise ValueError(f"unknown loss type {loss_type!r} in checkpoint")
