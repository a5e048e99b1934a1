"""Every input's gradient from one batched forward and backward pass (the `batched` method).

When a model scores each input on its own (eval mode, no batch statistics), row n of the
gradient of sum_n f(x_n) with respect to a layer's output is exactly the gradient of f(x_n)
alone. So one pass over a batch gives every input's gradient of every layer's weights, from
what the layer saw (its input a) and what came back (the gradient g of its output):

- `Linear` with a (B, in): dW_n = g_n a_n^T, kept as its two factors. The Gram matrix of these
  gradients is (a a^T) * (g g^T), elementwise: O(B^2 (in + out)) instead of O(B^2 in out),
  and the (B, out x in) gradients are never formed. Bias: g_n.
- `Conv1d`, `Conv2d`: dW_n correlates input n with output gradient n; all of them come from one
  grouped convolution-weight gradient with the batch as groups (`torch.nn.grad`). Bias: g_n
  summed over positions.
- `GroupNorm`: d gamma_n is g_n times input n normalised, d beta_n is g_n, both summed over positions.

Another module holding trainable parameters (or a convolution with non-zero padding modes)
makes `supports` false; `tracin.gradients` then takes one autograd call per input.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

SUPPORTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.GroupNorm)
Factor = tuple[torch.Tensor, torch.Tensor]  # (a (B, in), g (B, out)): gradient row n is outer(g_n, a_n)


def _trainable_modules(model: nn.Module) -> list[tuple[str, nn.Module, list[str]]]:
    """(name prefix, module, its own trainable parameter names) of every module that holds some."""
    found = []
    for prefix, module in model.named_modules():
        own = [name for name, p in module.named_parameters(recurse=False) if p.requires_grad]
        if own:
            found.append((f"{prefix}." if prefix else "", module, own))
    return found


def supports(model: nn.Module) -> bool:
    """Whether every trainable parameter sits in a module kind this pass differentiates."""
    for _, module, _ in _trainable_modules(model):
        if not isinstance(module, SUPPORTED):
            return False
        if isinstance(module, (nn.Conv1d, nn.Conv2d)) and (module.padding_mode != "zeros" or isinstance(module.padding, str)):
            return False
    return True


@dataclass
class BatchGradients:
    """Each input's score and gradient for one batch.

    `dense[name]` (B, numel) holds a parameter's gradient rows; `factors[name]` = (a (B, in),
    g (B, out)) stands for a Linear weight's rows outer(g_n, a_n).flatten(). Every trainable
    parameter is in exactly one of them.
    """

    scores: torch.Tensor  # (B,)
    dense: dict[str, torch.Tensor]
    factors: dict[str, Factor]

    def rows(self, names: Sequence[str]) -> torch.Tensor:
        """The gradients of the parameters `names`, concatenated in that order. -> (B, D)."""
        parts = []
        for name in names:
            if name in self.factors:
                a, g = self.factors[name]
                parts.append((g[:, :, None] * a[:, None, :]).reshape(len(a), -1))
            else:
                parts.append(self.dense[name])
        return torch.cat(parts, dim=1)


def _conv_weight(module: nn.Conv1d | nn.Conv2d, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Per-input weight gradients of a convolution: (B, out x in/groups x kernel)."""
    b = a.shape[0]
    weight_grad = torch.nn.grad.conv2d_weight if isinstance(module, nn.Conv2d) else torch.nn.grad.conv1d_weight
    size = (b * module.out_channels, module.in_channels // module.groups, *module.kernel_size)
    # The batch as groups: sample n's channels form groups n*groups ... (n+1)*groups - 1.
    grad = weight_grad(a.reshape(1, b * a.shape[1], *a.shape[2:]), size, g.reshape(1, b * g.shape[1], *g.shape[2:]),
                       module.stride, module.padding, module.dilation, b * module.groups)
    return grad.reshape(b, -1)


def _module_gradients(module: nn.Module, a: torch.Tensor, g: torch.Tensor, factor: bool) -> dict[str, torch.Tensor | Factor]:
    """One call's per-input gradients of `module`'s own parameters, by local name."""
    b = a.shape[0]
    out: dict[str, torch.Tensor | Factor] = {}
    if isinstance(module, nn.Linear):
        if factor and a.dim() == 2:
            out["weight"] = (a, g)
        else:
            a3, g3 = a.reshape(b, -1, a.shape[-1]), g.reshape(b, -1, g.shape[-1])
            out["weight"] = torch.bmm(g3.transpose(1, 2), a3).reshape(b, -1)
        out["bias"] = g.reshape(b, -1, g.shape[-1]).sum(dim=1)
    elif isinstance(module, (nn.Conv1d, nn.Conv2d)):
        out["weight"] = _conv_weight(module, a, g)
        out["bias"] = g.flatten(2).sum(dim=2)
    else:  # GroupNorm
        normalised = F.group_norm(a, module.num_groups, None, None, module.eps)
        out["weight"] = (g * normalised).flatten(2).sum(dim=2)
        out["bias"] = g.flatten(2).sum(dim=2)
    return out


def batch_gradients(model: nn.Module, batch: torch.Tensor, factor_linear: bool = True) -> BatchGradients:
    """Scores (B,) and every trainable parameter's per-input gradient for `batch` (B, ...).

    The model must be in eval mode and score each input independently, and `supports(model)`
    must hold. `factor_linear`: keep Linear weights as factors (False: materialise them).
    """
    modules = _trainable_modules(model)
    calls: list[tuple[nn.Module, torch.Tensor, torch.Tensor]] = []
    handles = [m.register_forward_hook(lambda mod, args, out: calls.append((mod, args[0].detach(), out)))
               for _, m, _ in modules]
    try:
        with torch.enable_grad():
            scores = model(batch)
    finally:
        for handle in handles:
            handle.remove()
    if scores.shape != (len(batch),):
        raise ValueError(f"the model must return one score per input, got shape {tuple(scores.shape)} for {len(batch)}")
    grads = torch.autograd.grad(scores.sum(), [c[2] for c in calls], allow_unused=True)
    count: dict[nn.Module, int] = {}
    for module, _, _ in calls:
        count[module] = count.get(module, 0) + 1
    per_module: dict[nn.Module, dict] = {}
    for (module, a, output), g in zip(calls, grads):
        g = torch.zeros_like(output) if g is None else g
        # A module called more than once (shared weights) sums its calls: no factors then.
        got = _module_gradients(module, a, g, factor_linear and count[module] == 1)
        seen = per_module.setdefault(module, {})
        for name, value in got.items():
            seen[name] = value if name not in seen else seen[name] + value
    dense: dict[str, torch.Tensor] = {}
    factors: dict[str, Factor] = {}
    for prefix, module, own in modules:
        got = per_module.get(module, {})
        for name in own:
            value = got.get(name)
            if isinstance(value, tuple):
                factors[prefix + name] = value
            else:  # a module the forward never called has zero gradient
                param = getattr(module, name)
                dense[prefix + name] = value if value is not None else param.new_zeros((len(batch), param.numel()))
    return BatchGradients(scores.detach(), dense, factors)
