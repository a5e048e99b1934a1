"""Pictures of influence scores."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from influence.config import DEFAULT_THRESHOLD
from influence.harm import describe_rule
from influence.data import InfluenceData
from utils.figures import figure, save_figure


def plot_influence_distribution(data: InfluenceData, path: str | Path, threshold: float = DEFAULT_THRESHOLD) -> Path:
    """Left: each training pair's 5th lowest standardised score, the number the tutorial's rule
    compares with its threshold (pairs left of the line are harmful under `--threshold -3.0
    --min-occurrences 5`). Right: each training recording's self-influence, sorted."""
    fig = figure(figsize=(11, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    scores = data.pair_scores()
    k = 0
    if scores.k:
        values, k = scores.deciding_scores()
        ax1.hist(values, bins=80, color="tab:blue", log=True)
        ax1.axvline(threshold, color="tab:red", linestyle="--", label=f"threshold {threshold:g}")
        ax1.legend()
        harmful = int(np.count_nonzero(scores.harmful(threshold)))
        ax1.set_title(f"{len(values)} training pairs; {harmful} {describe_rule(threshold)}")
    ax1.set_xlabel(f"{k}th lowest standardised score of each training pair (robust z)")
    ax1.set_ylabel("training pairs")
    if data.rec_self_influence is not None:
        order = np.argsort(-data.rec_self_influence)
        ax2.bar(np.arange(len(order)), data.rec_self_influence[order], color="tab:orange")
        ax2.set_xlabel("training recordings, by self-influence")
        ax2.set_ylabel("self-influence")
        ax2.set_title("recording self-influence (high: suspicious)")
    save_figure(fig, path)
    return Path(path)
