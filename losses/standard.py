"""Margin ranking loss: l = max(0, m - y s)."""
from __future__ import annotations

import torch

from losses.base import PairLoss
from losses.config import DEFAULT_MARGIN


class MarginRankingPairLoss(PairLoss):
    """Hinge on the pair margin. Pairs already ranked by more than `margin` have zero loss
    and zero gradient, so their TracIn scores are exactly 0."""

    name = "standard"

    def __init__(self, margin: float = DEFAULT_MARGIN):
        if margin < 0:
            raise ValueError(f"--margin must be non-negative, got {margin}")
        self.margin = float(margin)

    def base_losses(self, margins: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.margin - targets * margins)

    def base_derivative(self, margins: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        # relu'(0) = 0 in autograd; the strict inequality matches it.
        active = (self.margin - targets * margins) > 0
        return torch.where(active, -targets, torch.zeros_like(targets))

    def config(self) -> dict:
        return {"margin": self.margin}
