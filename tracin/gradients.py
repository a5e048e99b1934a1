"""Per-example gradients of a scalar score function, for all parameters or a block of them.

Three ways, same result: `batched` (`tracin.per_sample`: one forward and backward pass per
batch, each layer's per-example weight gradients from its input and output gradient) is the
fastest wherever the model's layers allow it (Linear, Conv1d/2d, GroupNorm): about 1.8x the
autograd loop on the small model and 4x on the wide one, on one CPU thread; `vmap`
(torch.func) batches examples for other models on accelerators; `loop` takes one autograd
call per example (any model, CPU). A block of parameters (`names`) bounds memory for big
models: the gradient matrix of one block, (N, D_block), is what sits in memory, never (N, D).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from tracin import per_sample

METHODS = ("auto", "batched", "vmap", "loop")


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
        grads = torch.autograd.grad(score, params, allow_unused=True)  # a layer the forward skips: zeros
        rows.append(torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params)]))
        scores.append(score.detach())
    return torch.stack(rows), torch.stack(scores)


def resolve_method(method: str, model: nn.Module, device: torch.device) -> str:
    """`auto` -> `batched` when the model's layers allow it, else `loop` on the CPU and `vmap` elsewhere."""
    if method not in METHODS:
        raise ValueError(f"unknown gradient method {method!r}: choose one of {', '.join(METHODS)}")
    if method == "batched" and not per_sample.supports(model):
        raise ValueError("gradient method 'batched' needs a model of Linear, Conv1d/Conv2d and GroupNorm layers")
    if method != "auto":
        return method
    if per_sample.supports(model):
        return "batched"
    return "loop" if device.type == "cpu" else "vmap"


def _batched_gradients(model: nn.Module, batch: torch.Tensor, names: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    got = per_sample.batch_gradients(model, batch)
    return got.rows(names), got.scores


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
    `names`, scores (N,)). `method`: see `resolve_method`.
    """
    method = resolve_method(method, model, inputs.device)
    names = list(trainable_parameters(model)) if names is None else list(names)
    compute = {"batched": _batched_gradients, "vmap": _vmap_gradients, "loop": _loop_gradients}[method]
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
