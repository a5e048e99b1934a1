"""The Gram matrix K = J J^T of per-input score gradients, accumulated so that J (N, D) is never whole.

With the `batched` gradients (`tracin.per_sample`, chosen wherever the model's layers allow it)
one pass over the inputs per checkpoint gives everything: each batch's gradient rows go to a
row store, and each Linear weight's rows stay as two factors a (N, in) and g (N, out), whose
Gram matrix is (a a^T) * (g g^T): the wide model's 1-million-weight hidden layer costs
N^2 x 2,560 instead of N^2 x 1,048,576. Other models (the `loop` and `vmap` methods) take one
pass per block of parameters sized to `memory_budget`.

A row store keeps its rows in memory when all N of them fit `memory_budget`; otherwise it is
*spilled*: written once to a temporary file, and K summed from pairs of row chunks read back,
two chunks in memory at a time. Both are exact, and K's symmetry halves the products. Under
`torchrun` each process takes the gradients of its own shard of inputs; in-memory rows and
factors are gathered, spilled rows are exchanged chunk by chunk, so every process ends with
the same K. With a `CountSketch`, each batch's gradients are sketched as they come instead
(one pass, never more than a batch of raw gradients) and K = (S J^T)^T (S J^T) is approximate.
"""
from __future__ import annotations

import shutil
import tempfile
from typing import Callable

import numpy as np
import torch
from torch import nn

from tracin import distributed, per_sample
from tracin.gradients import parameter_blocks, per_example_gradients, resolve_method
from tracin.sketch import CountSketch

DEFAULT_MEMORY_BUDGET = 512 * 2**20  # bytes for one block of gradients
SYMMETRIC_CHUNK = 512  # rows per block of a symmetric product


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

    Exact unless `sketch` is given. `progress(n)` is called as inputs are done (per batch).
    """
    if resolve_method(method, model, inputs.device) == "batched":
        return _one_pass(model, inputs, batch_size, memory_budget, sketch, progress)
    return _by_parameter_blocks(model, inputs, batch_size, method, memory_budget, sketch, progress)


def _batches(mine: slice, batch_size: int) -> list[slice]:
    return [slice(s, min(s + batch_size, mine.stop)) for s in range(mine.start, mine.stop, batch_size)]


def _one_pass(model: nn.Module, inputs: torch.Tensor, batch_size: int, memory_budget: int,
              sketch: CountSketch | None, progress: Callable[[int], None] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """`gram_and_scores` from one batched forward and backward pass per batch (`tracin.per_sample`)."""
    n, mine = inputs.shape[0], distributed.shard(inputs.shape[0])
    own = mine.stop - mine.start
    names = [k for k, p in model.named_parameters() if p.requires_grad]
    sizes = {k: p.numel() for k, p in model.named_parameters() if p.requires_grad}
    # The layout (which weights are factored) from the first batch; a process without rows probes one input.
    batches = _batches(mine, batch_size)
    first = per_sample.batch_gradients(model, inputs[batches[0]] if own else inputs[:1])
    dense_names = [k for k in names if k in first.dense]
    scores = inputs.new_zeros(own)
    gram = inputs.new_zeros((n, n))
    if sketch is not None:
        store = None
        sketched = inputs.new_zeros((own, sketch.dim))
    else:
        store = RowStore(n, mine, sum(sizes[k] for k in dense_names), inputs.dtype, inputs.device, memory_budget)
        factors = {k: (inputs.new_zeros((own, a.shape[1])), inputs.new_zeros((own, g.shape[1])))
                   for k, (a, g) in first.factors.items()}
    try:
        for b, rows in enumerate(batches):
            got = first if b == 0 else per_sample.batch_gradients(model, inputs[rows])
            local = slice(rows.start - mine.start, rows.stop - mine.start)
            scores[local] = got.scores
            if sketch is not None:
                sketched[local] = sketch.apply(got.rows(names), names, sizes)
            else:
                store.add(got.rows(dense_names))
                for k, (a, g) in got.factors.items():
                    factors[k][0][local], factors[k][1][local] = a, g
            if progress is not None:
                progress(len(got.scores))
        if sketch is not None:
            every = distributed.gather_rows(sketched, n)
            add_symmetric(gram, lambda i, j: every[i:j] @ every[i:].T)
        else:
            store.add_gram(gram)
            for a_own, g_own in factors.values():
                a, g = distributed.gather_rows(a_own, n), distributed.gather_rows(g_own, n)
                add_symmetric(gram, lambda i, j, a=a, g=g: (a[i:j] @ a[i:].T).mul_(g[i:j] @ g[i:].T))
    finally:
        if store is not None:
            store.close()
    return gram, distributed.gather_rows(scores, n)


def _by_parameter_blocks(model: nn.Module, inputs: torch.Tensor, batch_size: int, method: str, memory_budget: int,
                         sketch: CountSketch | None, progress: Callable[[int], None] | None
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """`gram_and_scores` for the `loop` and `vmap` methods: one pass per block of parameters."""
    n, mine = inputs.shape[0], distributed.shard(inputs.shape[0])
    own = mine.stop - mine.start
    item = torch.finfo(inputs.dtype).bits // 8
    sizes = {k: p.numel() for k, p in model.named_parameters() if p.requires_grad}
    # A sketch takes one batch of raw gradients at a time, so its blocks are sized for one batch.
    blocks = parameter_blocks(model, min(batch_size, max(own, 1)) if sketch is not None else n, memory_budget, item)
    gram = inputs.new_zeros((n, n))
    sketched = None if sketch is None else inputs.new_zeros((own, sketch.dim))
    scores = inputs.new_zeros(own)
    for b, names in enumerate(blocks):
        store = None if sketch is not None else RowStore(n, mine, sum(sizes[k] for k in names), inputs.dtype,
                                                         inputs.device, memory_budget)
        try:
            for rows in _batches(mine, batch_size):
                grads, s = per_example_gradients(model, inputs[rows], batch_size, progress, method, names)
                local = slice(rows.start - mine.start, rows.stop - mine.start)
                if b == 0:
                    scores[local] = s  # every block gives the same scores
                if sketch is not None:
                    sketched[local] += sketch.apply(grads, names, sizes)
                else:
                    store.add(grads)
            if store is not None:
                store.add_gram(gram)
        finally:
            if store is not None:
                store.close()
    if sketched is not None:
        every = distributed.gather_rows(sketched, n)
        add_symmetric(gram, lambda i, j: every[i:j] @ every[i:].T)
    return gram, distributed.gather_rows(scores, n)


def add_symmetric(gram: torch.Tensor, rows_from: Callable[[int, int], torch.Tensor],
                  chunk: int = SYMMETRIC_CHUNK) -> None:
    """gram (N, N) += a symmetric matrix S, given `rows_from(i, j)` = S[i:j, i:] (rows i..j-1, columns i..N-1).

    Each block above the diagonal is computed once and added twice: half the products of S whole.
    """
    n = gram.shape[0]
    for i in range(0, n, chunk):
        j = min(i + chunk, n)
        block = rows_from(i, j)  # (j - i, n - i)
        gram[i:j, i:] += block
        gram[j:, i:j] += block[:, j - i :].T


class RowStore:
    """The gradient rows (own, width) one process computes, batch by batch, and the Gram matrix of
    every process's rows: in memory when all N rows fit `memory_budget`, else spilled to a
    temporary file and multiplied chunk by chunk (two chunks of at most half the budget at a time)."""

    def __init__(self, n: int, mine: slice, width: int, dtype: torch.dtype, device: torch.device, memory_budget: int):
        self.n, self.mine, self.width, self.dtype, self.device = n, mine, width, dtype, device
        self.own = mine.stop - mine.start
        self.row_bytes = width * (torch.finfo(dtype).bits // 8)
        self.chunk = max(1, memory_budget // (2 * max(self.row_bytes, 1)))
        self.filled = 0
        self.file = None
        self.rows = None
        if n * self.row_bytes <= memory_budget or width == 0:
            self.rows = torch.empty((self.own, width), dtype=dtype, device=device)
            return
        folder = tempfile.gettempdir()
        needed, free = self.own * self.row_bytes, shutil.disk_usage(folder).free
        if free < needed * 1.05:
            raise OSError(f"the gradients need {needed / 1e9:.1f} GB of scratch space in {folder}, which has "
                          f"{free / 1e9:.1f} GB free: set TMPDIR to a larger disk, raise --memory-mb, or use --projection-dim")
        self.file = tempfile.TemporaryFile(prefix="tracin-gradients-", dir=folder)

    def add(self, rows: torch.Tensor) -> None:
        """The next rows of this process's shard, in order."""
        if self.rows is not None:
            self.rows[self.filled : self.filled + len(rows)] = rows
        else:
            self.file.write(rows.detach().cpu().contiguous().numpy().tobytes())
        self.filled += len(rows)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def _read(self, first: int, count: int) -> torch.Tensor:
        out = np.empty((count, self.width), dtype=torch.empty(0, dtype=self.dtype).numpy().dtype)
        self.file.seek(first * self.row_bytes)
        self.file.readinto(memoryview(out).cast("B"))
        return torch.from_numpy(out).to(self.device)

    def add_gram(self, gram: torch.Tensor) -> None:
        """gram (N, N) += J J^T over every process's rows."""
        if self.rows is not None:
            every = distributed.gather_rows(self.rows, self.n)
            add_symmetric(gram, lambda i, j: every[i:j] @ every[i:].T)
            return
        self.file.flush()
        part = torch.zeros_like(gram)  # this process's rows of J J^T
        single = not distributed.active()
        mine = self.mine
        for src in range(distributed.world_size()):
            rows = distributed.shard(self.n, distributed.world_size(), src)
            for c in range(0, rows.stop - rows.start, self.chunk):
                count = min(self.chunk, rows.stop - rows.start - c)
                other = self._read(c, count) if src == distributed.rank() else torch.empty(
                    (count, self.width), dtype=self.dtype, device=self.device)
                distributed.broadcast(other, src)
                cols = slice(rows.start + c, rows.start + c + count)
                # One process: J J^T is symmetric, so only chunks at or after this one are multiplied.
                for u in range(c if single else 0, self.own, self.chunk):
                    block = self._read(u, min(self.chunk, self.own - u))
                    product = block @ other.T
                    part[mine.start + u : mine.start + u + len(block), cols] += product
                    if single and u > c:
                        part[cols, mine.start + u : mine.start + u + len(block)] += product.T
                del other
        gram += distributed.sum_all(part)

