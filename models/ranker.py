"""`SimpleCNNAudioRanker`: a small CNN from one log-magnitude spectrogram to one score.

Every normalisation is per recording (mean removal, GroupNorm), never across the batch,
so in eval mode a recording's score depends on that recording alone. TracIn relies on
this: the gradient of a pair's margin is then the difference of two per-recording
gradients.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class SimpleCNNAudioRanker(nn.Module):
    """Spectrogram (B, F, T) or (B, 1, F, T) -> score (B,); a larger score means a larger angle.

    Args:
        max_freq_bins: keep only the lowest bins (None keeps all); a sine tone's harmonics
            sit in the low bins, so cropping saves time without losing the signal.
        time_pool: frames averaged together first; the tones are stationary.
        channels: output channels of the three conv blocks.
        hidden: width of the hidden fully connected layer.
        freq_cells: frequency cells kept after the convs (where a feature sits matters).
    """

    def __init__(
        self,
        max_freq_bins: int | None = None,
        time_pool: int = 8,
        channels: tuple[int, int, int] = (8, 16, 16),
        hidden: int = 32,
        freq_cells: int = 8,
    ):
        super().__init__()
        self.max_freq_bins = max_freq_bins
        self.time_pool = time_pool
        c1, c2, c3 = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, kernel_size=(7, 3), padding=(3, 1)),
            nn.GroupNorm(1, c1),
            nn.ReLU(),
            nn.MaxPool2d((4, 2)),
            nn.Conv2d(c1, c2, kernel_size=3, padding=1),
            nn.GroupNorm(1, c2),
            nn.ReLU(),
            nn.MaxPool2d((4, 2)),
            nn.Conv2d(c2, c3, kernel_size=3, padding=1),
            nn.GroupNorm(1, c3),
            nn.ReLU(),
        )
        self.freq_cells = freq_cells
        self.head = nn.Sequential(nn.Linear(c3 * freq_cells, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def constructor_kwargs(self) -> dict:
        """Arguments that rebuild this architecture; saved in every checkpoint."""
        c = [m.out_channels for m in self.features if isinstance(m, nn.Conv2d)]
        return {
            "max_freq_bins": self.max_freq_bins,
            "time_pool": self.time_pool,
            "channels": list(c),
            "hidden": self.head[0].out_features,
            "freq_cells": self.freq_cells,
        }

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        if spec.dim() == 3:
            spec = spec.unsqueeze(1)
        if self.max_freq_bins is not None:
            spec = spec[:, :, : self.max_freq_bins]
        # A take's gain is a constant offset in log magnitude: removing each recording's
        # mean makes the score blind to loudness.
        spec = spec - spec.mean(dim=(-2, -1), keepdim=True)
        spec = F.avg_pool2d(spec, kernel_size=(1, self.time_pool), ceil_mode=True)
        h = self.features(spec).mean(dim=-1)  # (B, C, F')
        h = F.adaptive_avg_pool1d(h, self.freq_cells).flatten(1)
        return self.head(h).squeeze(-1)


MODEL_CLASSES = {"SimpleCNNAudioRanker": SimpleCNNAudioRanker}


def build_model(class_name: str, kwargs: dict) -> nn.Module:
    """Rebuild a model from the class name and constructor arguments stored in a checkpoint."""
    if class_name not in MODEL_CLASSES:
        raise ValueError(f"unknown model class {class_name!r}; this toolkit knows {', '.join(MODEL_CLASSES)}")
    kwargs = dict(kwargs)
    if "channels" in kwargs:
        kwargs["channels"] = tuple(kwargs["channels"])
    try:
        return MODEL_CLASSES[class_name](**kwargs)
    except TypeError as exc:
        raise ValueError(f"checkpoint's model arguments do not fit {class_name}: {exc}") from None
