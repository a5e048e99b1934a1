"""Per-example gradients of a scalar score function.

Two ways, same result: `vmap` (torch.func) batches examples and is the fast path on GPUs;
`loop` takes one autograd call per example, which on a CPU is as fast for small models
and avoids torch.func's one-off start-up cost (about a second, to import its compiler).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

METHODS = ("auto", "vmap", "loop")


def trainable_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of the parameters that require grad, by name."""
    return {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}


def _vmap_gradients(model: nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    from torch.func import functional_call, grad_and_value, vmap

    params = trainable_parameters(model)
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def score(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(model, (p, buffers), (x.unsqueeze(0),)).squeeze(0)

    g, s = vmap(grad_and_value(score), in_dims=(None, 0))(params, batch)
    return torch.cat([t.reshape(t.shape[0], -1) for t in g.values()], dim=1), s.detach()


def _loop_gradients(model: nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    params = [p for p in model.parameters() if p.requires_grad]
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
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of each example's score with respect to all trainable parameters.

    The model must score each example independently (eval mode, no batch statistics).
    inputs (N, ...) on the model's device -> (G (N, D) flattened gradients, scores (N,)).
    `method` auto: vmap on an accelerator, loop on the CPU.
    """
    if method not in METHODS:
        raise ValueError(f"unknown gradient method {method!r}: choose one of {', '.join(METHODS)}")
    if method == "auto":
        method = "loop" if inputs.device.type == "cpu" else "vmap"
    compute = _vmap_gradients if method == "vmap" else _loop_gradients
    grads, scores = [], []
    for start in range(0, len(inputs), batch_size):
        g, s = compute(model, inputs[start : start + batch_size])
        grads.append(g)
        scores.append(s)
        if progress is not None:
            progress(len(s))
    return torch.cat(grads), torch.cat(scores)
