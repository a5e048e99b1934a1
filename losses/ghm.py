"""GHM-weighted logistic pair loss, after Li, Liu and Wang, "Gradient Harmonized
Single-stage Detector" (AAAI 2019).

Definition used here, for a batch of pairs with margins s_p and targets y_p:

1. Base loss: logistic, l_p = softplus(-y_p s_p). A smooth loss is needed: under a hinge
   every active pair has the same gradient norm and GHM would change nothing.
2. Gradient norm: g_p = |dl_p/ds_p| = sigmoid(-y_p s_p), in (0, 1).
3. Bins: [0, 1] is cut into `bins` equal bins; c_b is the number of pairs in bin b.
4. Density, smoothed across steps: D_b <- momentum * D_b + (1 - momentum) * c_b for the
   bins that hold pairs in this batch (the first visit sets D_b = c_b); the step's
   weights use the updated D.
5. Weight: w_p = D_{b(p)} ** (-alpha), then divided by the batch mean, so the weights
   average 1. Pairs in crowded bins (e.g. the many easy ones) count less.
6. Loss: mean_p w_p * l_p, with w_p detached (a constant for the gradient).

For TracIn the weights at a checkpoint come from its saved densities D (no update).
Held-out pairs are judged with the plain logistic loss.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from losses.base import PairLoss
from losses.config import DEFAULT_GHM_ALPHA, DEFAULT_GHM_BINS, DEFAULT_GHM_MOMENTUM


class GHMPairLoss(PairLoss):
    name = "ghm"

    def __init__(self, bins: int = DEFAULT_GHM_BINS, alpha: float = DEFAULT_GHM_ALPHA, momentum: float = DEFAULT_GHM_MOMENTUM):
        if bins < 1:
            raise ValueError(f"--ghm-bins must be at least 1, got {bins}")
        if alpha < 0:
            raise ValueError(f"--ghm-alpha must be non-negative, got {alpha}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"GHM momentum must be in [0, 1), got {momentum}")
        self.bins = int(bins)
        self.alpha = float(alpha)
        self.momentum = float(momentum)
        self.density = torch.zeros(self.bins, dtype=torch.float64)

    def bin_index(self, margins: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Bin of each pair's gradient norm g = sigmoid(-y s). (P,) -> (P,) int64."""
        g = torch.sigmoid(-targets * margins).detach()
        return torch.clamp((g * self.bins).long(), max=self.bins - 1)

    def weights(self, margins: torch.Tensor, targets: torch.Tensor, update: bool = False) -> torch.Tensor:
        """Detached GHM weights, mean 1. (P,) -> (P,).

        With `update` (a training step) the smoothed densities advance with this batch's
        counts first. Without it (TracIn at a checkpoint) the saved densities are used as
        they are; a bin never seen in training takes this set's count.
        """
        idx = self.bin_index(margins, targets).cpu()
        counts = torch.bincount(idx, minlength=self.bins).to(torch.float64)
        seen_before = self.density > 0
        if update:
            blended = self.momentum * self.density + (1 - self.momentum) * counts
            density = torch.where(counts > 0, torch.where(seen_before, blended, counts), self.density)
            self.density = density
        else:
            density = torch.where(seen_before, self.density, counts)
        w = density[idx].clamp_min(1e-12) ** (-self.alpha)
        w = w / w.mean()
        return w.to(device=margins.device, dtype=margins.dtype)

    def base_losses(self, margins: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.softplus(-targets * margins)

    def base_derivative(self, margins: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return -targets * torch.sigmoid(-targets * margins)

    def config(self) -> dict:
        return {"bins": self.bins, "alpha": self.alpha, "momentum": self.momentum}

    def state_dict(self) -> dict:
        return {"density": self.density.clone()}

    def load_state_dict(self, state: dict) -> None:
        density = state.get("density")
        if density is not None:
            if density.shape != (self.bins,):
                raise ValueError(f"GHM state has {density.shape[0]} bins, loss configured with {self.bins}")
            self.density = density.to(torch.float64).clone()
