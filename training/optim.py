"""Adam, written out: the same update as `torch.optim.Adam` (weight decay added to the gradient).

Why not torch.optim: in torch 2.11 the first step of any of its optimizers imports
torch._dynamo, which costs 1.5-4.5 s per process on this project's machines (measured with
cProfile), longer than a whole demo training run. The update, for each parameter p with
gradient g, at step t, learning rate lr:

    g <- g + weight_decay * p
    m <- beta1 m + (1 - beta1) g;       v <- beta2 v + (1 - beta2) g^2
    p <- p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

`param_groups[0]["lr"]` is read at every step (the trainer sets it each epoch), and
`state_dict()` / `load_state_dict()` hold t, m and v for a checkpoint, in torch.optim.Adam's
layout.
"""
from __future__ import annotations

from typing import Any, Iterable

import torch


class Adam:
    def __init__(self, params: Iterable[torch.Tensor], lr: float, weight_decay: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params = [p for p in params if p.requires_grad]
        self.param_groups = [{"lr": float(lr), "weight_decay": float(weight_decay), "betas": tuple(betas),
                              "eps": float(eps)}]
        self.step_count = 0
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        lr, wd, (b1, b2), eps = group["lr"], group["weight_decay"], group["betas"], group["eps"]
        self.step_count += 1
        c1, c2 = 1 - b1**self.step_count, 1 - b2**self.step_count
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq):
            if p.grad is None:
                continue
            g = p.grad + wd * p if wd else p.grad
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            p.addcdiv_(m, (v / c2).sqrt_().add_(eps), value=-lr / c1)

    def state_dict(self) -> dict[str, Any]:
        """In torch.optim.Adam's layout, so either can read the other's checkpoints."""
        group = {**self.param_groups[0], "betas": list(self.param_groups[0]["betas"]), "params": list(range(len(self.params)))}
        state = {i: {"step": torch.tensor(float(self.step_count)), "exp_avg": m.detach().clone(),
                     "exp_avg_sq": v.detach().clone()} for i, (m, v) in enumerate(zip(self.exp_avg, self.exp_avg_sq))}
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        state = saved["state"]
        if state and len(state) != len(self.params):
            raise ValueError(f"optimizer state holds {len(state)} tensors, the model has {len(self.params)}")
        for i, (m, v) in enumerate(zip(self.exp_avg, self.exp_avg_sq)):
            entry = state.get(i, state.get(str(i)))
            if entry is None:
                m.zero_()
                v.zero_()
                continue
            m.copy_(entry["exp_avg"])
            v.copy_(entry["exp_avg_sq"])
            self.step_count = int(float(entry["step"]))
        group = saved["param_groups"][0]
        self.param_groups[0].update({k: group[k] for k in ("lr", "weight_decay", "eps") if k in group})
        if "betas" in group:
            self.param_groups[0]["betas"] = tuple(group["betas"])
