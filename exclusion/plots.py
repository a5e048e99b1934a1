"""The picture of an exclusion list: the excluded recordings among all training recordings."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from exclusion.report import describe_rule
from exclusion.rules import Selection
from utils.atomic_io import write_with_atomic
from utils.constants import CRITERION_SELF_INFLUENCE, SAMPLE_ID_RE


def plot_exclusions(
    path: str | Path,
    recording_ids: Sequence[str],
    recording_influence: np.ndarray,
    selection: Selection,
    recording_self_influence: np.ndarray | None = None,
) -> None:
    """A PNG: left, the distribution of every training recording's mean influence (mean over Q
    of `recording_influence` (R, Q)), or of its self-influence under criterion self-influence,
    with the excluded recordings marked; right, mean influence against angle, excluded in red."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from utils.cjk_font import register

    register()

    mean = np.asarray(recording_influence, dtype=np.float64).mean(axis=1)
    excluded = set(selection.ids)
    is_excl = np.asarray([sid in excluded for sid in recording_ids], dtype=bool)
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)

    use_self = selection.criterion == CRITERION_SELF_INFLUENCE and recording_self_influence is not None
    values = np.asarray(recording_self_influence, dtype=np.float64) if use_self else mean
    finite = values[np.isfinite(values)]
    left.hist(finite, bins=min(40, max(5, finite.size // 3)), color="0.7", label="all training recordings")
    for k, v in enumerate(values[is_excl]):
        left.axvline(v, color="tab:red", lw=1, alpha=0.8, label="excluded" if k == 0 else None)
    if use_self and selection.cut is not None:
        left.axvline(selection.cut, color="k", ls="--", lw=1, label="outlier cut")
    left.set_xlabel("self-influence" if use_self else "mean influence over validation pairs")
    left.set_ylabel("recordings")
    left.set_title(f"Training recordings ({describe_rule(selection.criterion, selection.threshold)})", fontsize=10)
    left.legend(fontsize=8)

    angles = np.asarray(
        [float(m["angle"]) if (m := SAMPLE_ID_RE.match(s)) else np.nan for s in recording_ids], dtype=np.float64
    )
    ok = np.isfinite(angles)
    right.scatter(angles[ok & ~is_excl], mean[ok & ~is_excl], s=12, color="0.6", label="kept")
    right.scatter(angles[ok & is_excl], mean[ok & is_excl], s=28, color="tab:red", label="excluded")
    for sid, a, m in zip(recording_ids, angles, mean):
        if sid in excluded and np.isfinite(a):
            right.annotate(sid, (a, m), fontsize=6, xytext=(3, 3), textcoords="offset points")
    right.axhline(0, color="k", lw=0.5)
    right.set_xlabel("angle (degrees)")
    right.set_ylabel("mean influence over validation pairs")
    right.set_title(f"Harmful recordings by angle ({len(excluded)} excluded)", fontsize=10)
    right.legend(fontsize=8)
    write_with_atomic(path, lambda h: fig.savefig(h, format="png", dpi=120), binary=True)
