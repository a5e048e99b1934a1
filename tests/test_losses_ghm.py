"""The GHM-weighted pair loss: weights worked by hand, derivative against autograd."""
from __future__ import annotations

import math

import torch

from losses import GHMPairLoss


def margins_for(g: list[float], y: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Margins whose GHM gradient norm sigmoid(-y s) is `g`: s = -y * logit(g)."""
    g_t = torch.tensor(g, dtype=torch.float64)
    y_t = torch.tensor(y, dtype=torch.float64)
    return -y_t * torch.log(g_t / (1 - g_t)), y_t


def test_ghm_weights_by_hand():
    """bins 4 ([0, .25), [.25, .5), [.5, .75), [.75, 1]), alpha 0.5, momentum 0.75."""
    loss = GHMPairLoss(bins=4, alpha=0.5, momentum=0.75)

    # Step 1: g = .1, .15, .2, .6, .9 -> bins 0, 0, 0, 2, 3; counts [3, 0, 1, 1].
    # First visit of every bin: D = counts = [3, 0, 1, 1].
    # Raw weights D^-0.5: 1/sqrt(3) (x3), 1, 1; mean (sqrt(3) + 2) / 5 = 0.746410...
    m1, y1 = margins_for([0.1, 0.15, 0.2, 0.6, 0.9], [1, -1, 1, -1, 1])
    torch.testing.assert_close(loss.bin_index(m1, y1), torch.tensor([0, 0, 0, 2, 3]))
    w1 = loss.pair_losses(m1, y1, update=True) / loss.base_losses(m1, y1)
    expected1 = [0.7735026918962575] * 3 + [1.3397459621556136] * 2
    torch.testing.assert_close(w1, torch.tensor(expected1, dtype=torch.float64))
    torch.testing.assert_close(loss.density, torch.tensor([3.0, 0.0, 1.0, 1.0], dtype=torch.float64))

    # Step 2: g = .05, .3, .35, .7 -> bins 0, 1, 1, 2; counts [1, 2, 1, 0].
    # bin 0: .75 * 3 + .25 * 1 = 2.5; bin 1 first visit: 2; bin 2: .75 * 1 + .25 * 1 = 1;
    # bin 3 holds no pair this step and keeps 1.   D = [2.5, 2, 1, 1].
    # Raw: 2.5^-.5 = .632456, 2^-.5 = .707107 (x2), 1; mean .761667.
    m2, y2 = margins_for([0.05, 0.3, 0.35, 0.7], [-1, 1, 1, -1])
    w2 = loss.weights(m2, y2, update=True)
    expected2 = [0.8303567108023246, 0.928367025463566, 0.928367025463566, 1.3129092382705434]
    torch.testing.assert_close(w2, torch.tensor(expected2, dtype=torch.float64))
    torch.testing.assert_close(loss.density, torch.tensor([2.5, 2.0, 1.0, 1.0], dtype=torch.float64))
    assert abs(float(w2.mean()) - 1.0) < 1e-12

    # No update (TracIn at a checkpoint): g = .8, .4, .1 -> bins 3, 1, 0 use the saved D.
    # Raw: 1, 2^-.5, 2.5^-.5; mean .779774.
    m3, y3 = margins_for([0.8, 0.4, 0.1], [1, 1, -1])
    w3 = loss.weights(m3, y3)
    torch.testing.assert_close(
        w3, torch.tensor([1.2822911290064063, 0.906716752775784, 0.8109921182178096], dtype=torch.float64)
    )
    torch.testing.assert_close(loss.density, torch.tensor([2.5, 2.0, 1.0, 1.0], dtype=torch.float64))
    # The state survives a round trip.
    other = GHMPairLoss(bins=4, alpha=0.5, momentum=0.75)
    other.load_state_dict(loss.state_dict())
    torch.testing.assert_close(other.weights(m3, y3), w3)


def test_ghm_derivative_against_autograd():
    loss = GHMPairLoss(bins=4, alpha=0.75)
    gen = torch.Generator().manual_seed(0)
    margins = torch.randn(12, generator=gen, dtype=torch.float64) * 3
    targets = torch.where(torch.rand(12, generator=gen) > 0.5, 1.0, -1.0).double()
    loss.weights(margins[:7], targets[:7], update=True)  # some saved state
    # Base loss and derivative by hand at s = 0: softplus(0) = ln 2, -y sigmoid(0) = -y / 2.
    zero = torch.zeros(2, dtype=torch.float64)
    pm = torch.tensor([1.0, -1.0], dtype=torch.float64)
    torch.testing.assert_close(loss.base_losses(zero, pm), torch.full((2,), math.log(2), dtype=torch.float64))
    torch.testing.assert_close(loss.base_derivative(zero, pm), torch.tensor([-0.5, 0.5], dtype=torch.float64))

    m = margins.clone().requires_grad_(True)
    weights = loss.weights(margins, targets).detach()
    (grad,) = torch.autograd.grad(loss.pair_losses(m, targets).sum(), m)
    (grad_ref,) = torch.autograd.grad((weights * loss.base_losses(m, targets)).sum(), m)
    torch.testing.assert_close(grad, grad_ref)
    torch.testing.assert_close(loss.margin_derivative(margins, targets), grad_ref)
    (grad_plain,) = torch.autograd.grad(loss.base_losses(m, targets).sum(), m)
    torch.testing.assert_close(loss.margin_derivative(margins, targets, weighted=False), grad_plain)
    assert not torch.allclose(grad_ref, grad_plain)  # the weights matter
