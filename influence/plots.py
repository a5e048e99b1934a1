"""Pictures of influence scores."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from influence.io import InfluenceData
from influence.stats import score_sample
from utils.figures import plt, save_figure


def plot_influence_distribution(data: InfluenceData, path: str | Path, threshold: float | None = None) -> Path:
    """Histogram of all pair scores (log counts) and of per-recording self-influence."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    scores = np.asarray(score_sample(data.influence))
    nonzero = scores[scores != 0]
    ax1.hist(nonzero if nonzero.size else scores, bins=80, color="tab:blue", log=True)
    if threshold is not None:
        ax1.axvline(threshold, color="tab:red", linestyle="--", label=f"suggested threshold {threshold:.3g}")
        ax1.legend()
    ax1.set_xlabel("TracIn(train pair, validation pair)  (non-zero scores)")
    ax1.set_ylabel("count")
    sampled = "" if scores.size == data.influence.size else f" ({scores.size:,} shown)"
    ax1.set_title(f"{len(data.train_pairs)} x {len(data.val_pairs)} scores{sampled}, {np.mean(scores == 0):.0%} exactly 0")
    if data.recording_self_influence is not None:
        order = np.argsort(-data.recording_self_influence)
        ax2.bar(np.arange(len(order)), data.recording_self_influence[order], color="tab:orange")
        ax2.set_xlabel("training recordings, by self-influence")
        ax2.set_ylabel("self-influence")
        ax2.set_title("recording self-influence (high: suspicious)")
    save_figure(fig, path)
    return Path(path)
