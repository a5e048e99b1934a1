"""The margin ranking loss and its derivative, by hand and against autograd."""
from __future__ import annotations

import pytest
import torch

from losses import MarginRankingPairLoss, build_loss, loss_from_config
from losses.config import DEFAULT_MARGIN


def test_margin_loss_by_hand_and_derivative_against_autograd():
    margins = torch.tensor([2.0, 0.3, -0.5, 0.5, 1.0, 1.0], dtype=torch.float64)
    targets = torch.tensor([1.0, 1.0, 1.0, -1.0, -1.0, 1.0], dtype=torch.float64)
    loss = MarginRankingPairLoss(margin=1.0)
    # max(0, 1 - y s): the last pair sits exactly on the margin.
    expected = [0.0, 0.7, 1.5, 1.5, 2.0, 0.0]
    torch.testing.assert_close(loss.pair_losses(margins, targets), torch.tensor(expected, dtype=torch.float64))
    torch.testing.assert_close(
        MarginRankingPairLoss(margin=0.5).pair_losses(margins, targets),
        torch.tensor([0.0, 0.2, 1.0, 1.0, 1.5, 0.0], dtype=torch.float64),
    )
    m = margins.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss.pair_losses(m, targets).sum(), m)
    torch.testing.assert_close(loss.margin_derivative(margins, targets), grad)
    torch.testing.assert_close(grad, torch.tensor([0.0, -1.0, -1.0, 1.0, 1.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(loss.margin_derivative(margins, targets, weighted=False), grad)
    with pytest.raises(ValueError, match="margin"):
        MarginRankingPairLoss(margin=-1.0)


def test_losses_are_built_by_name_with_the_defaults():
    loss = build_loss("standard")
    assert isinstance(loss, MarginRankingPairLoss) and loss.margin == DEFAULT_MARGIN
    assert loss_from_config("standard", loss.config()).margin == DEFAULT_MARGIN
    with pytest.raises(ValueError, match="unknown loss type"):
        build_loss("hinge")
