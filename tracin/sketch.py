"""Random projection of per-example gradients (CountSketch), for models with millions of parameters.

Each parameter coordinate d goes to one of k buckets h(d) with a random sign s(d), both
drawn from a seed: the sketch of a gradient g is S g with (S g)_b = sum_{h(d)=b} s(d) g_d.
Inner products are kept in expectation, E[<S g, S h>] = <g, h>, with a variance that falls
as 1/k, so the Gram matrix of sketches approximates the exact one. It costs O(D) per
gradient and O(D) memory for the hashes, never a (D, k) matrix. Approximate: the engine
computes the exact Gram matrix unless a projection is asked for.
"""
from __future__ import annotations

from typing import Mapping

import torch


class CountSketch:
    """Buckets and signs for every coordinate of the named parameters, reproducible from `seed`."""

    def __init__(self, sizes: Mapping[str, int], dim: int, seed: int = 0, device: torch.device | str = "cpu"):
        if dim < 1:
            raise ValueError(f"--projection-dim must be at least 1, got {dim}")
        self.dim = int(dim)
        self.seed = int(seed)
        gen = torch.Generator().manual_seed(self.seed)
        self.bucket: dict[str, torch.Tensor] = {}
        self.sign: dict[str, torch.Tensor] = {}
        for name, size in sizes.items():  # in parameter order, so the draw never depends on blocks
            self.bucket[name] = torch.randint(0, self.dim, (size,), generator=gen).to(device)
            self.sign[name] = (torch.randint(0, 2, (size,), generator=gen) * 2 - 1).to(device)

    def apply(self, grads: torch.Tensor, names: list[str], sizes: Mapping[str, int]) -> torch.Tensor:
        """Sketch of the gradients of parameters `names` (concatenated in that order). (N, D_block) -> (N, k)."""
        out = grads.new_zeros((grads.shape[0], self.dim))
        start = 0
        for name in names:
            width = sizes[name]
            block = grads[:, start : start + width] * self.sign[name].to(grads.dtype)
            out.index_add_(1, self.bucket[name], block)
            start += width
        return out
