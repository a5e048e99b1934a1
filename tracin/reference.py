"""The correctness reference: a plain loop of torch.autograd.grad over every pair.

Slow on purpose (two forwards and one backward per pair per checkpoint); tests and the
benchmark compare the fast engine against it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from tracin.engine import PairSet

# (pair index, margin (), target ()) -> that pair's loss (), differentiable in the margin.
PairLossFn = Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class ReferenceCheckpoint:
    state: Mapping[str, torch.Tensor]
    eta: float
    train_pair_loss: PairLossFn
    test_pair_loss: PairLossFn


def _pair_gradients(model: nn.Module, inputs: torch.Tensor, pairs: PairSet, loss_fn: PairLossFn) -> torch.Tensor:
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for p in range(len(pairs)):
        i, j = (int(v) for v in pairs.pairs[p])
        scores = model(inputs[[i, j]])
        loss = loss_fn(p, scores[0] - scores[1], pairs.targets[p])
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        rows.append(torch.cat([(g if g is not None else torch.zeros_like(w)).reshape(-1) for g, w in zip(grads, params)]))
    return torch.stack(rows)


def naive_tracin(
    model: nn.Module,
    inputs: torch.Tensor,
    train: PairSet,
    test: PairSet,
    checkpoints: Sequence[ReferenceCheckpoint],
) -> torch.Tensor:
    """sum_c eta_c grad l_p . grad l_q by brute force. Returns (P, Q) in the model's dtype."""
    dtype = next(model.parameters()).dtype
    inputs = inputs.to(dtype)
    train = PairSet(train.pairs, train.targets.to(dtype))
    test = PairSet(test.pairs, test.targets.to(dtype))
    total = torch.zeros(len(train), len(test), dtype=dtype)
    for ckpt in checkpoints:
        model.load_state_dict(ckpt.state)
        model.eval()
        g_train = _pair_gradients(model, inputs, train, ckpt.train_pair_loss)
        g_test = _pair_gradients(model, inputs, test, ckpt.test_pair_loss)
        total += ckpt.eta * (g_train @ g_test.T)
    return total
