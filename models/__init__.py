"""Ranking models: spectrogram -> one score per recording.

The names below load on first use (PEP 562): `import models.presets` needs no torch.
"""
from __future__ import annotations

from utils.lazy import lazy_getattr
_EXPORTS = {
    "MODEL_CLASSES": "models.ranker",
    "SimpleCNNAudioRanker": "models.ranker",
    "build_model": "models.ranker",
    "MODEL_PRESETS": "models.presets",
}

__all__ = list(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
