"""Per-example gradients of a scalar score function, for all parameters or a block of them.

Two ways, same result: `vmap` (torch.func) batches examples and is the fast path on GPUs;
`loop` takes one autograd call per example, which on a CPU is as fast for small models
and avoids torch.func's one-off start-up cost (about a second, to import its compiler).
A block of parameters (`names`) bounds memory for big models: the gradient matrix of one
block, (N, D_block), is what sits in memory, never (N, D).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

METHODS = ("auto", "vmap", "loop")


def trainable_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of the parameters that require grad, by name."""
    return {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}


def parameter_blocks(model: nn.Module, rows: int, budget_bytes: int, bytes_per_value: int) -> list[list[str]]:
    """Consecutive groups of parameter names whose gradients for `rows` inputs fit in `budget_bytes`.

    A tensor larger than the budget on its own forms a block of its own (it cannot be split
    without splitting the backward pass).
    """
    blocks: list[list[str]] = [[]]
    used = 0
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        size = p.numel() * rows * bytes_per_value
        if blocks[-1] and used + size > budget_bytes:
            blocks.append([])
            used = 0
        blocks[-1].append(name)
        used += size
    return blocks


def _vmap_gradients(model: nn.Module, batch: torch.Tensor, names: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    from torch.func import functional_call, grad_and_value, vmap

    params = trainable_parameters(model)
    wanted = {k: params[k] for k in names}
    fixed = {k: v for k, v in params.items() if k not in wanted}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def score(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(model, ({**fixed, **p}, buffers), (x.unsqueeze(0),)).squeeze(0)

    g, s = vmap(grad_and_value(score), in_dims=(None, 0))(wanted, batch)
    return torch.cat([g[k].reshape(g[k].shape[0], -1) for k in names], dim=1), s.detach()


def _loop_gradients(model: nn.Module, batch: torch.Tensor, names: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    named = dict(model.named_parameters())
    params = [named[k] for k in names]
    rows, scores = [], []
    for k in range(len(batch)):
        score = model(batch[k : k + 1])[0]
        grads = torch.autograd.grad(score, params)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
        scores.append(score.detach())
    return torch.stack(rows), torch.stack(scores)


def per_example_gradients(
    model: nn.Module,
    inputs: torch.Tensor,
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
    method: str = "auto",
    names: Sequence[str] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of each example's score with respect to the trainable parameters `names` (default: all).

    The model must score each example independently (eval mode, no batch statistics).
    inputs (N, ...) on the model's device -> (G (N, D) flattened gradients in the order of
    `names`, scores (N,)). `method` auto: vmap on an accelerator, loop on the CPU.
    """
    if method not in METHODS:
        raise ValueError(f"unknown gradient method {method!r}: choose one of {', '.join(METHODS)}")
    if method == "auto":
        method = "loop" if inputs.device.type == "cpu" else "vmap"
    names = list(trainable_parameters(model)) if names is None else list(names)
    compute = _vmap_gradients if method == "vmap" else _loop_gradients
    grads, scores = [], []
    for start in range(0, len(inputs), batch_size):
        g, s = compute(model, inputs[start : start + batch_size], names)
        grads.append(g)
        scores.append(s)
        if progress is not None:
            progress(len(s))
    if not grads:
        width = sum(dict(model.named_parameters())[k].numel() for k in names)
        return inputs.new_zeros((0, width)), inputs.new_zeros((0,))
    return torch.cat(grads), torch.cat(scores)
