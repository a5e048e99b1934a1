"""Did the retrain help? Paired differences over training seeds, a 95% interval and a verdict word.

`train.py --seeds 1 2 3 --exclusions-file L` trains the retrain once per seed, and the
matching baseline (the same flags and split, no list or relabel file) once per seed where it
is missing. Each seed gives a pair of runs that differ only in the list; the difference of
their holdout quality (retrain minus baseline, on the holdout recordings both kept) is one
paired observation. Over n seeds:

- mean difference d, its standard deviation s and the 95% t interval d +- t(n-1) s / sqrt(n);
- `better` when the whole interval is above 0, `worse` when it is below 0, else
  `no measurable change`; one seed gives a table and no verdict;
- what the holdout can resolve: one holdout pair is 1 / P of pairwise accuracy, and with
  the spread seen between seeds a change smaller than the interval's half-width cannot be
  told from none.

Only the holdout split is read, fixed before any exclusion (the split seed is shared), and
nothing is chosen on it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from training.compare import compare_runs
from utils.atomic_io import json_safe, write_json_atomic

BETTER, SAME, WORSE = "better", "no measurable change", "worse"
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086}
"""Student's t, 97.5th percentile, by degrees of freedom (beyond 20: 1.96 + 2.4 / df, within 0.002)."""


def t_975(df: int) -> float:
    """Student's t 97.5th percentile for `df` degrees of freedom (df >= 1)."""
    return T_975.get(df, 1.96 + 2.4 / df)


def mean_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, standard deviation, half-width of the 95% t interval) of the finite values; (x, 0, inf) for one."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    if v.size == 1:
        return float(v[0]), 0.0, float("inf")
    sd = float(v.std(ddof=1))
    return float(v.mean()), sd, t_975(v.size - 1) * sd / math.sqrt(v.size)


def verdict_word(mean: float, half_width: float) -> str | None:
    """`better`, `worse` or `no measurable change` for a mean difference and its interval; None for one seed."""
    if not math.isfinite(half_width) or not math.isfinite(mean):
        return None
    if mean - half_width > 0:
        return BETTER
    if mean + half_width < 0:
        return WORSE
    return SAME


@dataclass
class Measure:
    """One quality measure over the seeds: baseline and retrain per seed, their differences, the interval."""

    name: str
    baseline: list[float]
    retrain: list[float]
    mean: float = float("nan")
    sd: float = float("nan")
    half_width: float = float("nan")
    verdict: str | None = None

    def __post_init__(self) -> None:
        self.mean, self.sd, self.half_width = mean_interval(self.differences)
        self.verdict = verdict_word(self.mean, self.half_width)

    @property
    def differences(self) -> list[float]:
        return [r - b for b, r in zip(self.baseline, self.retrain)]


@dataclass
class Verdict:
    """Every seed's pair of runs, each measure's figures, and what the holdout can resolve."""

    seeds: list[int]
    baseline_runs: list[str]
    retrain_runs: list[str]
    measures: list[Measure]
    holdout_pairs: int
    notes: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> Measure:
        return self.measures[0]

    def lines(self) -> list[str]:
        """The table and verdict train.py prints."""
        n = len(self.seeds)
        out = [f"baseline vs retrain over {n} training seed(s), on the holdout recordings both runs kept:",
               "    seed  " + "  ".join(f"{m.name:>26} (base, retrain, change)" for m in self.measures)]
        for k, seed in enumerate(self.seeds):
            cells = [f"{m.baseline[k]:>26.3f} {m.retrain[k]:>8.3f} {m.differences[k]:>+8.3f}      " for m in self.measures]
            out.append(f"  {seed:>6}  " + "  ".join(cells))
        for m in self.measures:
            if m.verdict is None:
                out.append(f"  {m.name}: change {m.mean:+.3f} (one seed: no verdict; pass --seeds with 3 or more)")
            else:
                out.append(f"  {m.name}: mean change {m.mean:+.3f}, 95% interval [{m.mean - m.half_width:+.3f}, "
                           f"{m.mean + m.half_width:+.3f}] -> {m.verdict}")
        out += [f"  {note}" for note in self.notes]
        return out

    def to_dict(self) -> dict:
        return json_safe({**asdict(self), "measures": [{**asdict(m), "differences": m.differences}
                                                       for m in self.measures]})


def resolution_notes(verdict: Verdict) -> list[str]:
    """What the holdout can detect: one pair's worth of accuracy, and the smallest change the seeds can separate."""
    notes = []
    if verdict.holdout_pairs:
        notes.append(f"one holdout pair is {1 / verdict.holdout_pairs:.3f} of pairwise accuracy "
                     f"({verdict.holdout_pairs} holdout pairs)")
    m = verdict.accuracy
    if m.verdict is not None:
        notes.append(f"with {len(verdict.seeds)} seeds and the spread seen here (SD {m.sd:.3f}), a change in accuracy "
                     f"smaller than {m.half_width:.3f} cannot be told from none")
    return notes


def paired_verdict(seeds: Sequence[int], baselines: Sequence[Path], retrains: Sequence[Path]) -> Verdict:
    """Compare each seed's retrain with its baseline (`training.compare`) and judge the differences."""
    comparisons = [compare_runs(Path(b), Path(r)) for b, r in zip(baselines, retrains)]
    for c in comparisons:
        if c.reason is not None:
            raise ValueError(f"cannot compare with the baseline: {c.reason}")
    rows = {name: [c.row(name) for c in comparisons] for name in ("shared holdout pairs: pairwise accuracy",
                                                                  "shared holdout recordings: Spearman")}
    measures = [Measure("holdout pairwise accuracy", [r[0] for r in rows["shared holdout pairs: pairwise accuracy"]],
                        [r[1] for r in rows["shared holdout pairs: pairwise accuracy"]]),
                Measure("holdout Spearman", [r[0] for r in rows["shared holdout recordings: Spearman"]],
                        [r[1] for r in rows["shared holdout recordings: Spearman"]])]
    v = Verdict(list(seeds), [str(b) for b in baselines], [str(r) for r in retrains], measures,
                comparisons[0].shared_pairs)
    v.notes = resolution_notes(v)
    return v


def write_verdict(verdict: Verdict, path: Path) -> tuple[Path, Path]:
    """`<path>.json` and `<path>.png` (each seed's change and the interval, per measure)."""
    from utils.figures import plt, save_figure

    json_path, png_path = path.with_suffix(".json"), path.with_suffix(".png")
    write_json_atomic(json_path, verdict.to_dict())
    fig, axes = plt.subplots(1, len(verdict.measures), figsize=(5 * len(verdict.measures), 2.6), squeeze=False)
    for ax, m in zip(axes[0], verdict.measures):
        ax.scatter(m.differences, np.zeros(len(m.differences)), color="0.5", label="each seed")
        if math.isfinite(m.half_width):
            ax.errorbar([m.mean], [0.3], xerr=[[m.half_width], [m.half_width]], fmt="s", color="black",
                        label="mean, 95% interval")
        ax.axvline(0, color="tab:red", lw=1)
        ax.set_yticks([])
        ax.set_ylim(-0.5, 0.8)
        ax.set_xlabel(f"{m.name}: retrain minus baseline")
        ax.set_title(m.verdict or "one seed: no verdict", fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
    save_figure(fig, png_path)
    return json_path, png_path
