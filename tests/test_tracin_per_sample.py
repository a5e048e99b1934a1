"""Every input's gradient from one batched pass equals one autograd call per input."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import TinyCheckpoints
from tracin.gradients import per_example_gradients
from tracin.gram import gram_and_scores
from tracin.per_sample import batch_gradients, supports


class Mixed(nn.Module):
    """Grouped and strided convolutions, a Linear on a sequence, a Linear used twice, an unused layer."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), groups=2)
        self.norm = nn.GroupNorm(2, 4)
        self.conv1d = nn.Conv1d(4, 3, kernel_size=3, dilation=2, padding=2)
        self.seq = nn.Linear(3, 5)
        self.shared = nn.Linear(5, 5)
        self.unused = nn.Linear(2, 2)
        self.out = nn.Linear(5, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.norm(self.conv(x)))  # (B, 4, H', W')
        h = self.conv1d(h.mean(dim=3))  # (B, 3, L)
        h = torch.tanh(self.seq(h.transpose(1, 2))).mean(dim=1)  # (B, 5)
        h = torch.tanh(self.shared(torch.tanh(self.shared(h))))
        return self.out(h).squeeze(-1)


@pytest.mark.parametrize("factor", [True, False])
def test_batched_gradients_equal_the_autograd_loop(factor):
    torch.manual_seed(0)
    model = Mixed().double().eval()
    x = torch.randn(5, 2, 9, 4, dtype=torch.float64)
    assert supports(model)
    loop, scores = per_example_gradients(model, x, 5, method="loop")
    got = batch_gradients(model, x, factor_linear=factor)
    names = [k for k, _ in model.named_parameters()]
    # Only the Linear weights called once on a (B, in) input are factored.
    assert set(got.factors) == ({"out.weight"} if factor else set())
    assert torch.allclose(got.rows(names), loop, rtol=1e-10, atol=1e-12)
    assert torch.allclose(got.scores, scores, rtol=1e-12, atol=1e-14)
    assert torch.count_nonzero(got.rows(["unused.weight", "unused.bias"])) == 0


def test_gram_of_batched_gradients_equals_the_loop_and_unsupported_layers_fall_back():
    model = TinyCheckpoints.model()
    x = torch.randn(7, 24, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    batched, s1 = gram_and_scores(model.eval(), x, 3, "batched")
    loop, s2 = gram_and_scores(model, x, 3, "loop")
    assert torch.allclose(batched, loop, rtol=1e-10, atol=1e-14) and torch.allclose(s1, s2, rtol=1e-12)
    assert torch.allclose(batched, batched.T)
    odd = nn.Sequential(nn.Flatten(), nn.LayerNorm(192), nn.Linear(192, 1), nn.Flatten(0)).double().eval()
    assert not supports(odd)
    with pytest.raises(ValueError, match="batched"):
        per_example_gradients(odd, x, 3, method="batched")
    auto, _ = gram_and_scores(odd, x, 3, "auto")  # the loop
    rows, _ = per_example_gradients(odd, x, 3, method="loop")
    assert torch.allclose(auto, rows @ rows.T, rtol=1e-10, atol=1e-14)
