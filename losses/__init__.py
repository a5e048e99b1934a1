"""Pair losses: `standard` (margin ranking) and `ghm` (GHM-weighted logistic)."""
from losses.base import PairLoss
from losses.ghm import GHMPairLoss
from losses.standard import MarginRankingPairLoss

LOSS_TYPES = ("standard", "ghm")


def build_loss(loss_type: str, margin: float = 1.0, ghm_bins: int = 10, ghm_alpha: float = 0.75,
               ghm_momentum: float = 0.75) -> PairLoss:
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


__all__ = ["GHMPairLoss", "LOSS_TYPES", "MarginRankingPairLoss", "PairLoss", "build_loss", "loss_from_config"]
