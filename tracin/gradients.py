"""Per-example gradients of a scalar score function, batched with torch.func."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, vmap


def trainable_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of the parameters that require grad, by name."""
    return {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}


def per_example_gradients(
    model: nn.Module,
    inputs: torch.Tensor,
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of each example's score with respect to all trainable parameters.

    The model must score each example independently (eval mode, no batch statistics).
    inputs (N, ...) on the model's device -> (G (N, D) flattened gradients, scores (N,)).
    """
    params = trainable_parameters(model)
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def score(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(model, (p, buffers), (x.unsqueeze(0),)).squeeze(0)

    per_example = vmap(grad_and_value(score), in_dims=(None, 0))
    grads, scores = [], []
    for start in range(0, len(inputs), batch_size):
        g, s = per_example(params, inputs[start : start + batch_size])
        grads.append(torch.cat([t.reshape(t.shape[0], -1) for t in g.values()], dim=1))
        scores.append(s)
        if progress is not None:
            progress(min(batch_size, len(inputs) - start))
    return torch.cat(grads), torch.cat(scores)
