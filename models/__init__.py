"""Ranking models: spectrogram -> one score per recording.

The names below load on first use (PEP 562): `import models.presets` needs no torch.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MODEL_CLASSES": "models.ranker",
    "SimpleCNNAudioRanker": "models.ranker",
    "build_model": "models.ranker",
    "MODEL_PRESETS": "models.presets",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
