"""Scoring a run and an exclusion list against the planted faults (reports only: the
pipeline itself never reads the truth file)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from datasets.faults import MISLABEL_FAR, MISLABEL_NEAR, is_mislabel
from training.metrics import ranking_quality
from training.records import TrainingRun
from utils.atomic_io import read_json
from utils.constants import SCORES_FILE


@dataclass
class HoldoutScore:
    clean_pairwise_accuracy: float
    clean_spearman: float
    clean_pairs: int
    pairwise_accuracy: float
    spearman: float


def clean_holdout_score(run_dir: Path, faults: dict[str, Any]) -> HoldoutScore:
    """Ranking quality on the run's holdout recordings, with and without planted faults.

    Clean: pairs among holdout recordings that are not planted faults, judged by their
    stored angle (which is their true angle). The holdout split is fixed before any
    exclusion, and TracIn never sees it.
    """
    run = TrainingRun.read(run_dir)
    scores_by_id = read_json(run_dir / SCORES_FILE, "scores file")
    holdout = sorted(run.split["holdout"])
    clean = [s for s in holdout if s not in faults]
    acc, rho, n = ranking_quality(scores_by_id, clean)
    acc_all, rho_all, _ = ranking_quality(scores_by_id, holdout)
    return HoldoutScore(acc, rho, n, acc_all, rho_all)


@dataclass
class DetectionScore:
    listed: int
    planted_in_train: int
    mislabeled_in_train: int
    caught: int
    caught_mislabeled: int
    recall: float
    mislabeled_recall: float
    precision: float
    by_kind: dict[str, list[int]] = field(default_factory=dict)
    """fault kind -> [caught, planted in the training split]."""
    far_suggested: list[int] = field(default_factory=lambda: [0, 0])
    """[caught far mislabels whose suggested angle is their true angle, caught far mislabels]."""
    near_suggested: list[int] = field(default_factory=lambda: [0, 0])
    """[caught near mislabels whose suggested angle is their true angle, caught near mislabels]."""
    suggestions: int = 0
    """Training takes given a suggested angle."""
    wrong_suggestions: int = 0
    """Of those, takes that are not mislabeled (a suggestion would mislabel a take, or a broken one)."""


def detection_score(listed: list[str], train_ids: list[str], faults: dict[str, Any],
                    suggested: dict[str, float] | None = None) -> DetectionScore:
    """How many planted training faults an exclusion list caught, of each kind, and how much of it is right.

    `suggested` (sample id -> suggested angle, only the takes given one) scores the suggestions: right for
    caught far and near mislabels, and how many go to takes that are not mislabeled.
    Precision counts a listed planted fault of any kind as right.
    """
    train = set(train_ids)
    in_train = [s for s in sorted(train) if s in faults]
    mislabeled = [s for s in in_train if is_mislabel(faults[s]["kind"])]
    listed_set = set(listed)
    caught = [s for s in listed if s in faults]
    caught_mis = [s for s in mislabeled if s in listed_set]
    by_kind: dict[str, list[int]] = {}
    for s in in_train:
        entry = by_kind.setdefault(faults[s]["kind"], [0, 0])
        entry[0] += s in listed_set
        entry[1] += 1
    suggested = suggested or {}

    def right_of(kind: str) -> list[int]:
        caught_kind = [s for s in in_train if faults[s]["kind"] == kind and s in listed_set]
        return [len([s for s in caught_kind if suggested.get(s) == faults[s]["true_angle"]]), len(caught_kind)]

    mislabeled_set = set(mislabeled)
    given = [s for s in suggested if s in train and s in listed_set]
    nan = float("nan")
    return DetectionScore(
        listed=len(listed),
        planted_in_train=len(in_train),
        mislabeled_in_train=len(mislabeled),
        caught=len(caught),
        caught_mislabeled=len(caught_mis),
        recall=len([s for s in caught if s in train]) / len(in_train) if in_train else nan,
        mislabeled_recall=len(caught_mis) / len(mislabeled) if mislabeled else nan,
        precision=len(caught) / len(listed) if listed else nan,
        by_kind=by_kind,
        far_suggested=right_of(MISLABEL_FAR),
        near_suggested=right_of(MISLABEL_NEAR),
        suggestions=len(given),
        wrong_suggestions=len([s for s in given if s not in mislabeled_set]),
    )
