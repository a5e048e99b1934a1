"""The picture of an exclusion list: the listed recordings among all training recordings."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from exclusion.criteria import MISFIT, PAIRS, PROFILE
from exclusion.rules import RuleInputs, Selection
from influence.stats import ROBUST_Z
from utils.atomic_io import write_with_atomic


def plot_exclusions(path: str | Path, inputs: RuleInputs, selection: Selection) -> None:
    """Write `exclusion_picture` to `path` (atomically)."""
    data = exclusion_picture(inputs, selection)
    write_with_atomic(path, lambda h: h.write(data), binary=True)


def exclusion_picture(inputs: RuleInputs, selection: Selection) -> bytes:
    """A PNG, as bytes. Left: every training recording's TracIn evidence (harmful pairs, robust SD, x) against
    its harmonic profile's probability of a wrong label (y; the ranker's misfit where the files have no
    profiles), with the cuts and the listed recordings in red. Right: stored angle against suggested
    angle (on the diagonal: no relabel suggested); listed recordings in red, labelled."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from utils.cjk_font import register

    register()
    ids = inputs.recording_ids
    listed = set(selection.ids)
    is_listed = np.asarray([sid in listed for sid in ids], dtype=bool)
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    rng = np.random.default_rng(0)  # jitter only, so overlapping points show

    x = selection.evidence.get(PAIRS, np.zeros(len(ids)))
    y, y_cut, y_label = selection.evidence.get(PROFILE), 0.5, "harmonic profile: P(label wrong or take broken)"
    if y is None:
        y, y_cut, y_label = selection.evidence.get(MISFIT), ROBUST_Z, "misfit: score far from its angle's (robust SD)"
    if y is None:
        left.hist(x, bins=min(40, max(5, len(ids) // 3)), color="0.7", label="training recordings")
        for k, v in enumerate(x[is_listed]):
            left.axvline(v, color="tab:red", lw=1, alpha=0.8, label="listed" if k == 0 else None)
        left.set_ylabel("recordings")
    else:
        left.scatter(x[~is_listed], y[~is_listed], s=12, color="0.6", label="kept")
        left.scatter(x[is_listed], y[is_listed], s=28, color="tab:red", label="listed")
        left.axhline(y_cut, color="k", ls="--", lw=0.8)
        left.set_ylabel(y_label, fontsize=8)
    left.axvline(ROBUST_Z, color="k", ls="--", lw=0.8)
    left.set_xlabel("harmful training pairs it is in (robust SD)")
    left.set_title(f"{len(ids)} training recordings, criterion {selection.criterion}: {len(listed)} listed", fontsize=10)
    left.legend(fontsize=8)

    stored = np.asarray(inputs.angles, dtype=np.float64)
    suggested = stored if selection.suggested_angles is None else np.asarray(selection.suggested_angles, dtype=np.float64)
    suggested = np.where(np.isnan(suggested), stored, suggested)  # no suggestion: the stored angle stands
    step = np.min(np.diff(np.unique(stored))) if len(np.unique(stored)) > 1 else 1.0
    jx = stored + rng.uniform(-0.2, 0.2, len(ids)) * step
    jy = suggested + rng.uniform(-0.2, 0.2, len(ids)) * step
    right.plot([stored.min(), stored.max()], [stored.min(), stored.max()], color="k", lw=0.5)
    right.scatter(jx[~is_listed], jy[~is_listed], s=12, color="0.6", label="kept")
    right.scatter(jx[is_listed], jy[is_listed], s=28, color="tab:red", label="listed")
    for sid, a, b in zip(ids, jx, jy):
        if sid in listed:
            right.annotate(sid, (a, b), fontsize=6, xytext=(3, 3), textcoords="offset points")
    right.set_xlabel("stored angle (degrees)")
    right.set_ylabel("suggested angle (degrees)")
    right.set_title("Suggested angles (off the diagonal: a relabel is suggested)", fontsize=10)
    right.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    return buf.getvalue()
