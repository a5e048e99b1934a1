"""Baseline versus retrain on the same holdout: the table train.py prints after a run with an exclusion list.

The baseline is the run of the same material, frequency and loss without exclusions
(`TrainConfig.default_run_name()` without the list) in the same checkpoints folder. The
two are compared only when their run.json files hold the same split, so the holdout is
the same recordings. Rows:

- each run on its own holdout pairs and recordings (what its summary.json reports: a
  recording the list removed from the holdout takes its pairs with it);
- both runs on the holdout pairs and recordings they share (neither run excluded them):
  the like-for-like comparison.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from training.config import TrainConfig
from training.metrics import ranking_quality
from training.records import TrainingRun
from utils.atomic_io import read_json
from utils.constants import RUN_FILE, SCORES_FILE

# Settings that change how a run learns; the comparison names any the two runs do not share.
LEARNING_SETTINGS = ("epochs", "learning_rate", "lr_schedule", "weight_decay", "batch_size", "seed", "margin",
                     "ghm_bins", "ghm_alpha", "ghm_momentum", "n_fft", "hop_length")


@dataclass
class Comparison:
    """The table (`lines()`), or why there is none (`reason`)."""

    baseline_dir: Path
    rows: list[tuple[str, float, float, str]] = field(default_factory=list)
    """(what, baseline, retrain, measured on)."""
    reason: str | None = None
    differing: list[str] = field(default_factory=list)
    shared_pairs: int = 0

    def row(self, what: str) -> tuple[float, float]:
        """(baseline, retrain) of the row named `what`."""
        return next((base, new) for name, base, new, _ in self.rows if name == what)

    def lines(self) -> list[str]:
        if self.reason is not None:
            return [f"no baseline comparison: {self.reason}"]
        width = max(len(r[0]) for r in self.rows)
        out = [f"baseline {self.baseline_dir.name} vs this retrain, on the same holdout split:",
               f"  {'':<{width}}  baseline  retrain   change  measured on"]
        for what, base, new, on in self.rows:
            out.append(f"  {what:<{width}}  {_fmt(base):>8}  {_fmt(new):>7}  {_fmt(new - base, sign=True):>7}  {on}")
        if self.differing:
            out.append(f"  note: the runs also differ in {', '.join(self.differing)}, not only in the exclusions")
        return out


def _fmt(x: float, sign: bool = False) -> str:
    if x is None or np.isnan(x):
        return "n/a"
    return f"{x:+.3f}" if sign else f"{x:.3f}"


def baseline_dir(cfg: TrainConfig) -> Path:
    """The run folder of `cfg` without exclusions, relabels and a chosen run name."""
    return replace(cfg, exclusions_file=None, relabel_file=None, run_name=None).run_dir


def compare_runs(baseline: Path, retrain: Path) -> Comparison:
    """Compare two run folders on their holdout split (see the module docstring)."""
    if not (baseline / RUN_FILE).is_file() or not (baseline / SCORES_FILE).is_file():
        return Comparison(baseline, reason=f"no finished baseline run at {baseline} (train one without --exclusions-file)")
    base_run, new_run = TrainingRun.read(baseline), TrainingRun.read(retrain)
    if base_run.split != new_run.split:
        return Comparison(baseline, reason=f"the baseline {baseline} has another split (another --split-seed or other"
                                           " recordings), so its holdout is not the same")
    base_scores = read_json(baseline / SCORES_FILE, "scores file")
    new_scores = read_json(retrain / SCORES_FILE, "scores file")
    holdout = sorted(new_run.split["holdout"])
    base_excl, new_excl = set(base_run.excluded_ids), set(new_run.excluded_ids)
    own = {name: [s for s in holdout if s not in excl] for name, excl in (("base", base_excl), ("new", new_excl))}
    shared = [s for s in holdout if s not in base_excl | new_excl]
    b_acc, b_rho, b_pairs = ranking_quality(base_scores, own["base"])
    n_acc, n_rho, n_pairs = ranking_quality(new_scores, own["new"])
    s_base, s_new = ranking_quality(base_scores, shared), ranking_quality(new_scores, shared)
    rows = [
        ("holdout pairwise accuracy", b_acc, n_acc, f"each run's holdout pairs ({b_pairs} / {n_pairs})"),
        ("holdout Spearman", b_rho, n_rho, f"each run's holdout recordings ({len(own['base'])} / {len(own['new'])})"),
        ("shared holdout pairs: pairwise accuracy", s_base[0], s_new[0], f"{s_new[2]} pairs both runs kept"),
        ("shared holdout recordings: Spearman", s_base[1], s_new[1], f"{len(shared)} recordings both runs kept"),
    ]
    base_cfg, new_cfg = base_run.config, new_run.config
    differing = [k for k in LEARNING_SETTINGS if getattr(base_cfg, k, None) != getattr(new_cfg, k, None)]
    return Comparison(baseline, rows, differing=differing, shared_pairs=s_new[2])


def compare_with_baseline(cfg: TrainConfig, retrain: Path) -> Comparison:
    """The comparison of the run `cfg` wrote at `retrain` with its baseline (see `baseline_dir`)."""
    return compare_runs(baseline_dir(cfg), retrain)
