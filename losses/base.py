"""The pair-loss interface shared by training and TracIn."""
from __future__ import annotations

from typing import Any

import torch


class PairLoss:
    """A loss on pair margins s = f(x_i) - f(x_j) with targets y in {+1, -1}.

    The training loss of pair p is `w_p * base(s_p, y_p)`, with a detached weight w_p
    (1 for plain losses). TracIn needs only each pair's derivative with respect to its own
    margin: grad l_p = dl_p/ds_p * (grad f(x_i) - grad f(x_j)). Held-out pairs are judged
    with the unweighted base loss.
    """

    name = "base"

    def base_losses(self, margins: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Unweighted per-pair loss, elementwise. (P,), (P,) -> (P,)."""
        raise NotImplementedError

    def base_derivative(self, margins: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """d base / d s, elementwise. (P,), (P,) -> (P,)."""
        raise NotImplementedError

    def weights(self, margins: torch.Tensor, targets: torch.Tensor, update: bool = False) -> torch.Tensor:
        """Detached per-pair weights. (P,) -> (P,). `update` advances any running state (a training step)."""
        return torch.ones_like(margins).detach()

    def pair_losses(self, margins: torch.Tensor, targets: torch.Tensor, update: bool = False) -> torch.Tensor:
        """Per-pair training losses, w_p * base_p. (P,) -> (P,)."""
        return self.weights(margins, targets, update) * self.base_losses(margins, targets)

    def margin_derivative(self, margins: torch.Tensor, targets: torch.Tensor, weighted: bool = True) -> torch.Tensor:
        """d l_p / d s_p: of the training loss (`weighted`) or of the held-out loss. (P,) -> (P,)."""
        d = self.base_derivative(margins, targets)
        return self.weights(margins, targets) * d if weighted else d

    def evaluation_losses(self, margins: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Per-pair loss used to judge held-out pairs (no reweighting). (P,) -> (P,)."""
        return self.base_losses(margins, targets)

    def config(self) -> dict[str, Any]:
        """Constructor arguments, saved in checkpoints."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Running state (e.g. GHM bin densities), saved in checkpoints."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the running state saved by `state_dict`."""
