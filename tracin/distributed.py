"""Sharding work across the processes of a `torchrun` launch (gloo on CPU, nccl on CUDA).

Without an initialised process group everything here is the single-process identity, so
the engine calls these functions unconditionally.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

import torch
import torch.distributed as dist


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def shard(n: int, ranks: int | None = None, which: int | None = None) -> slice:
    """The contiguous rows [start, stop) of `n` that process `which` of `ranks` owns (sizes differ by at most 1)."""
    ranks = world_size() if ranks is None else ranks
    which = rank() if which is None else which
    base, extra = divmod(n, ranks)
    start = which * base + min(which, extra)
    return slice(start, start + base + (1 if which < extra else 0))


def gather_rows(part: torch.Tensor, n: int) -> torch.Tensor:
    """Concatenate every process's `shard(n)` rows in rank order; every process gets the whole (n, ...)."""
    if not active():
        return part
    size = world_size()
    longest = shard(n, size, 0).stop - shard(n, size, 0).start
    padded = part.new_zeros((longest, *part.shape[1:]))
    padded[: part.shape[0]] = part
    pieces = [torch.empty_like(padded) for _ in range(size)]
    dist.all_gather(pieces, padded.contiguous())
    return torch.cat([p[: shard(n, size, r).stop - shard(n, size, r).start] for r, p in enumerate(pieces)])


def broadcast(tensor: torch.Tensor, source: int) -> torch.Tensor:
    """Every process gets process `source`'s `tensor` (in place)."""
    if active():
        dist.broadcast(tensor, source)
    return tensor


def sum_all(tensor: torch.Tensor) -> torch.Tensor:
    """The sum of every process's `tensor` (in place)."""
    if active():
        dist.all_reduce(tensor)
    return tensor


@contextlib.contextmanager
def process_group(device: str = "auto") -> Iterator[int]:
    """Join the process group `torchrun` describes (WORLD_SIZE > 1): gloo on the CPU, nccl with CUDA.

    Yields this process's rank (0 without torchrun) and leaves the group at the end.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or active():
        yield rank()
        return
    cuda = device in ("auto", "cuda") and torch.cuda.is_available()
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    try:
        yield rank()
    finally:
        dist.destroy_process_group()
