"""Choosing the compute device: CUDA, then Apple MPS, then CPU."""
from __future__ import annotations

import torch

from utils.constants import DEVICE_CHOICES


def select_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU; an explicit choice must be available."""
    if name not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {name!r}: choose one of {', '.join(DEVICE_CHOICES)}")
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise ValueError("--device cuda requested, but no CUDA GPU is available (try --device auto)")
    if name == "mps" and not mps:
        raise ValueError("--device mps requested, but Apple MPS is not available (try --device auto)")
    return torch.device(name)
