"""The ranker: one score per recording, blind to gain; rebuilt from a checkpoint's description."""
from __future__ import annotations

import json

import pytest
import torch

from models import SimpleCNNAudioRanker, build_model


def test_model_scores_one_recording_at_a_time_and_ignore_gain():
    torch.manual_seed(0)
    model = SimpleCNNAudioRanker(max_freq_bins=200).eval()
    gen = torch.Generator().manual_seed(1)
    specs = torch.randn(5, 1025, 188, generator=gen) * 2.0 - 6.0
    specs[2] *= 3.0  # one recording very unlike the others
    with torch.no_grad():
        batch = model(specs)
        alone = torch.cat([model(specs[i : i + 1]) for i in range(5)])
        reordered = model(specs[[4, 2, 0, 3, 1]])
        louder = model(specs + 2.5)  # +2.5 in log magnitude = x12 gain
        with_channel = model(specs.unsqueeze(1))
    assert batch.shape == (5,)
    torch.testing.assert_close(batch, alone, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(reordered, batch[[4, 2, 0, 3, 1]], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(louder, batch, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(with_channel, batch)
    assert batch.std() > 0  # the score does depend on the recording


def test_build_model_round_trip():
    model = SimpleCNNAudioRanker(max_freq_bins=100, channels=(4, 6, 5), hidden=7, freq_cells=3)
    again = build_model("SimpleCNNAudioRanker", json.loads(json.dumps(model.constructor_kwargs())))
    again.load_state_dict(model.state_dict(), strict=True)
    with pytest.raises(ValueError, match="unknown model class"):
        build_model("ResNet", {})
    with pytest.raises(ValueError, match="do not fit"):
        build_model("SimpleCNNAudioRanker", {"depth": 3})
