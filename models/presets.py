"""Named sizes of `SimpleCNNAudioRanker` (importing this needs no torch).

`small` is the default (7,905 parameters with the default spectrogram: the demo trains it in seconds);
`wide` has 1,143,105, for labs with thousands of recordings and for checking that
TracIn copes with a big model (benchmarks/bench_scale.py).
"""
from __future__ import annotations

MODEL_CLASS = "SimpleCNNAudioRanker"
MODEL_PRESETS: dict[str, dict] = {
    "small": {"time_pool": 8, "channels": [8, 16, 16], "hidden": 32, "freq_cells": 8},
    "wide": {"time_pool": 8, "channels": [32, 64, 128], "hidden": 512, "freq_cells": 16},
}
DEFAULT_MODEL = "small"
