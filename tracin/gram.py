"""The Gram matrix K = J J^T of per-input score gradients, accumulated so that J (N, D) is never whole.

K is summed over blocks of parameters: K = sum_b J_b J_b^T, where J_b (N, D_b) holds the
gradients of one block and is sized to `memory_budget`. Under `torchrun` each process takes
the gradients of its own shard of inputs and the shards are gathered, block by block, so
every process ends with the same K. With a `CountSketch`, the blocks are sketched instead
and K = (S J^T)^T (S J^T) is approximate.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from tracin import distributed
from tracin.gradients import parameter_blocks, per_example_gradients
from tracin.sketch import CountSketch

DEFAULT_MEMORY_BUDGET = 512 * 2**20  # bytes for one block of gradients


def gram_and_scores(
    model: nn.Module,
    inputs: torch.Tensor,
    batch_size: int = 32,
    method: str = "auto",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    sketch: CountSketch | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """K (N, N) and the scores (N,) of `inputs` (N, ...) under `model` (eval mode, weights loaded).

    Exact unless `sketch` is given. `progress(n)` is called as inputs are done (per block).
    """
    n = inputs.shape[0]
    mine = distributed.shard(n)
    bytes_per_value = torch.finfo(inputs.dtype).bits // 8
    sizes = {k: p.numel() for k, p in model.named_parameters() if p.requires_grad}
    blocks = parameter_blocks(model, n, memory_budget, bytes_per_value)
    gram = inputs.new_zeros((n, n))
    sketched = None if sketch is None else inputs.new_zeros((n, sketch.dim))
    scores = None
    for names in blocks:
        grads, own_scores = per_example_gradients(model, inputs[mine], batch_size, progress, method, names)
        if scores is None:
            scores = distributed.gather_rows(own_scores, n)
        if sketch is not None:
            sketched += distributed.gather_rows(sketch.apply(grads, names, sizes), n)
        else:
            block = distributed.gather_rows(grads, n)
            gram += block @ block.T
        del grads
    if sketched is not None:
        gram = sketched @ sketched.T
    return gram, scores
