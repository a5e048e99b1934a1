"""The Gram matrix K = J J^T of per-input score gradients, accumulated so that J (N, D) is never whole.

K is summed over blocks of parameters: K = sum_b J_b J_b^T, where J_b (N, D_b) holds the
gradients of one block and is sized to `memory_budget`. A block that does not fit on its
own (one big tensor: the 1-million-weight hidden layer of the `wide` model is 6 GB of
gradients at 1,500 recordings) is *spilled*: its gradients are written once to a temporary
file and K_b is summed from pairs of row chunks read back, two chunks in memory at a time.
Both are exact. Under `torchrun` each process takes the gradients of its own shard of
inputs; in-memory blocks are gathered, spilled ones are exchanged chunk by chunk, so every
process ends with the same K. With a `CountSketch`, the gradients are sketched batch by
batch instead and K = (S J^T)^T (S J^T) is approximate.
"""
from __future__ import annotations

import functools
import shutil
import tempfile
from typing import IO, Callable, Sequence

import numpy as np
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
    sketched = None if sketch is None else inputs.new_zeros((mine.stop - mine.start, sketch.dim))
    own_scores = None
    for names in blocks:
        width = sum(sizes[k] for k in names)
        if sketch is not None:  # batch by batch: never more than a batch of raw gradients
            for start in range(0, mine.stop - mine.start, batch_size):
                rows = slice(mine.start + start, min(mine.start + start + batch_size, mine.stop))
                grads, scores = per_example_gradients(model, inputs[rows], batch_size, progress, method, names)
                sketched[start : start + len(scores)] += sketch.apply(grads, names, sizes)
                own_scores = _first(own_scores, scores, start, mine)
        elif n * width * bytes_per_value <= memory_budget or width == 0:
            grads, scores = per_example_gradients(model, inputs[mine], batch_size, progress, method, names)
            own_scores = scores if own_scores is None else own_scores
            block = distributed.gather_rows(grads, n)
            gram += block @ block.T
            del grads, block
        else:
            scores = _spilled_gram(model, inputs, mine, names, width, batch_size, method, memory_budget, gram, progress)
            own_scores = scores if own_scores is None else own_scores
    if sketched is not None:
        every = distributed.gather_rows(sketched, n)
        gram = every @ every.T
    return gram, distributed.gather_rows(own_scores, n)


def _first(scores: torch.Tensor | None, batch: torch.Tensor, start: int, mine: slice) -> torch.Tensor:
    """Scores of the first block's batches, filled in as they come (later blocks give the same)."""
    if scores is None:
        scores = batch.new_zeros(mine.stop - mine.start)
    scores[start : start + len(batch)] = batch
    return scores


def _read_rows(spill: IO[bytes], width: int, np_dtype: np.dtype, device: torch.device, first: int,
               count: int) -> torch.Tensor:
    """Rows `first` to `first + count` of the (n, width) gradients spilled to `spill`."""
    out = np.empty((count, width), dtype=np_dtype)
    spill.seek(first * out.itemsize * width)
    spill.readinto(memoryview(out).cast("B"))
    return torch.from_numpy(out).to(device)


def _check_scratch_space(folder: str, needed: int, names: Sequence[str]) -> None:
    """Refuse, in one line, spilling `needed` bytes of gradients into a folder without room for them."""
    free = shutil.disk_usage(folder).free
    if free < needed * 1.05:
        raise OSError(f"the gradients of {', '.join(names)} need {needed / 1e9:.1f} GB of scratch space in {folder}, "
                      f"which has {free / 1e9:.1f} GB free: set TMPDIR to a larger disk, "
                      "raise --memory-mb, or use --projection-dim")


def _spilled_gram(
    model: nn.Module,
    inputs: torch.Tensor,
    mine: slice,
    names: Sequence[str],
    width: int,
    batch_size: int,
    method: str,
    memory_budget: int,
    gram: torch.Tensor,
    progress: Callable[[int], None] | None,
) -> torch.Tensor:
    """Add J_b J_b^T of the parameters `names` to `gram` (N, N) through a temporary file; -> own scores.

    Each process writes its rows' gradients once, batch by batch; then every chunk of every
    process's rows is read back (and broadcast under torchrun) and multiplied with this
    process's chunks, two chunks of at most half the budget in memory at a time.
    """
    n, dtype, device = inputs.shape[0], inputs.dtype, inputs.device
    item = torch.finfo(dtype).bits // 8
    row_bytes = width * item
    chunk = max(1, memory_budget // (2 * row_bytes))
    folder = tempfile.gettempdir()
    _check_scratch_space(folder, (mine.stop - mine.start) * row_bytes, names)
    np_dtype = torch.empty(0, dtype=dtype).numpy().dtype
    with tempfile.TemporaryFile(prefix="tracin-gradients-", dir=folder) as spill:
        scores = []
        for start in range(mine.start, mine.stop, batch_size):
            grads, s = per_example_gradients(model, inputs[start : min(start + batch_size, mine.stop)], batch_size,
                                             progress, method, names)
            spill.write(grads.detach().cpu().contiguous().numpy().tobytes())
            scores.append(s)
        spill.flush()
        read = functools.partial(_read_rows, spill, width, np_dtype, device)
        own = mine.stop - mine.start
        part = torch.zeros_like(gram)  # this process's rows of J_b J_b^T
        single = not distributed.active()
        for src in range(distributed.world_size()):
            rows = distributed.shard(n, distributed.world_size(), src)
            for c in range(0, rows.stop - rows.start, chunk):
                count = min(chunk, rows.stop - rows.start - c)
                other = read(c, count) if src == distributed.rank() else torch.empty((count, width), dtype=dtype,
                                                                                    device=device)
                distributed.broadcast(other, src)
                cols = slice(rows.start + c, rows.start + c + count)
                # One process: K_b is symmetric, so only chunks at or after this one are multiplied.
                for u in range(c if single else 0, own, chunk):
                    block = read(u, min(chunk, own - u))
                    product = block @ other.T
                    part[mine.start + u : mine.start + u + len(block), cols] += product
                    if single and u > c:
                        part[cols, mine.start + u : mine.start + u + len(block)] += product.T
                del other
        gram += distributed.sum_all(part)
    return torch.cat(scores) if scores else inputs.new_zeros(0)

