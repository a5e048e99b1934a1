"""Standardised scores without the (P, Q) matrix, against the matrix and NumPy by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TinyCheckpoints

from datasets.pairs import make_pairs
from influence.standardize import angle_pair_keys, column_stats, merge_lowest, sample_rows
from influence.summary import pair_scores, recording_scores
from influence.task import checkpoint_spec
from losses import MarginRankingPairLoss
from tracin import PairSet, TracInEngine

TRAIN_ANGLES = [0, 0, 0, 36, 36, 36, 72, 72, 72]
VAL_ANGLES = [0, 36, 36, 72, 72]


def robust_z_by_hand(matrix: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(value - median) / (1.4826 MAD) per column within each group, falling back to the whole column."""
    z = np.zeros_like(matrix)
    col_med = np.median(matrix, axis=0)
    col_scale = 1.4826 * np.median(np.abs(matrix - col_med), axis=0)
    for c in np.flatnonzero(col_scale == 0):  # more than half the column equal: the spread of the rest
        dev = np.abs(matrix[:, c] - col_med[c])
        col_scale[c] = 1.4826 * np.median(dev[dev > 0]) if (dev > 0).any() else 0.0
    for g in np.unique(groups):
        rows = matrix[groups == g]
        med = np.median(rows, axis=0)
        scale = 1.4826 * np.median(np.abs(rows - med), axis=0)
        scale = np.where(scale > 0, scale, col_scale)
        with np.errstate(divide="ignore", invalid="ignore"):
            z[groups == g] = np.where(scale > 0, (rows - med) / scale, 0.0)
    return z


@pytest.fixture(scope="module", params=["margin", "logistic"])
def engine_terms(request, tiny_checkpoints):
    gen = torch.Generator().manual_seed(3)
    angles = TRAIN_ANGLES + VAL_ANGLES
    inputs = torch.randn(len(angles), 24, 8, generator=gen, dtype=torch.float64)
    tr, ty = make_pairs(range(len(TRAIN_ANGLES)), angles)
    va, vy = make_pairs(range(len(TRAIN_ANGLES), len(angles)), angles)
    train = PairSet(torch.from_numpy(tr), torch.from_numpy(ty).double())
    val = PairSet(torch.from_numpy(va), torch.from_numpy(vy).double())
    engine = TracInEngine(TinyCheckpoints.model(), inputs, train, val, "cpu", torch.float64, 4)
    specs = [checkpoint_spec(s, eta, MarginRankingPairLoss(0.3), measurement=request.param)
             for s, eta in zip(tiny_checkpoints.states, tiny_checkpoints.etas)]
    return engine, engine.all_terms(specs), torch.tensor(angles, dtype=torch.float64)[engine.used]


def test_pair_scores_match_the_matrix(engine_terms):
    engine, terms, angles = engine_terms
    full = engine.influence_matrix(terms).numpy()
    keys = angle_pair_keys(angles, engine.train_local).numpy()
    groups = np.unique(keys, axis=0, return_inverse=True)[1].ravel()
    z = robust_z_by_hand(full, groups)
    seen = []
    scores = pair_scores(engine, terms, angles, k=4, memory_budget=2000, dense=lambda r, raw, zz: seen.append((r, raw, zz)))
    order = np.sort(z, axis=1)[:, :4]
    assert np.allclose(scores.low, order, atol=1e-5)
    assert np.allclose(np.take_along_axis(z, scores.index, axis=1), order, atol=1e-5)
    assert np.allclose(scores.mean, z.mean(axis=1), atol=1e-9)
    # The dense callback saw every row once, with the same raw scores and z.
    rows = torch.cat([r for r, _, _ in seen]).numpy()
    assert sorted(rows.tolist()) == list(range(len(full))) and len(seen) > 1
    assert np.allclose(np.concatenate([raw.numpy() for _, raw, _ in seen])[np.argsort(rows)], full, rtol=1e-12)
    # A subset of columns is scored like the full matrix restricted to it (statistics included).
    cols = torch.tensor([5, 0, 7, 2])
    sub = pair_scores(engine, terms, angles, k=2, columns=cols)
    zc = robust_z_by_hand(full[:, cols.numpy()], groups)
    assert np.allclose(sub.low, np.sort(zc, axis=1)[:, :2], atol=1e-5)
    assert set(np.unique(sub.index).tolist()) <= set(cols.tolist()) and sub.columns == 4


def test_recording_scores_match_the_matrix(engine_terms):
    engine, terms, angles = engine_terms
    recordings = torch.arange(len(TRAIN_ANGLES))
    rec_raw, rec_self = engine.recording_influence(terms, recordings)
    z = robust_z_by_hand(rec_raw.numpy(), np.asarray(TRAIN_ANGLES))
    scores = recording_scores(engine, terms, recordings, torch.tensor(TRAIN_ANGLES, dtype=torch.float64), k=3,
                              memory_budget=500)
    assert np.allclose(scores.low, np.sort(z, axis=1)[:, :3], atol=1e-5)
    assert np.allclose(scores.mean, z.mean(axis=1), atol=1e-9)
    assert np.allclose(scores.total, rec_raw.numpy().sum(axis=1), rtol=1e-10)
    assert np.allclose(scores.self_influence, rec_self.numpy(), rtol=1e-12)


def test_statistics_by_hand():
    values = torch.tensor([[1.0, 0.0], [3.0, 0.0], [10.0, 4.0], [2.0, 1.0], [2.0, 3.0]])
    groups = torch.tensor([0, 0, 0, 1, 1])
    med, scale = column_stats(values, groups, 3)
    # group 0, column 0: median 3, MAD median(|1-3|, 0, 7) = 2; column 1: median 0, MAD 0 -> whole column (median 1, MAD 1)
    assert med[0].tolist() == [3.0, 0.0] and scale[0].tolist() == pytest.approx([2 * 1.4826, 1.4826])
    assert med[1].tolist() == [2.0, 2.0] and scale[1, 0] == pytest.approx(1.4826)  # col 0 MAD 0 -> column's 1.0
    assert med[2].tolist() == [2.0, 1.0]  # no rows: the column's own statistics
    assert sample_rows(torch.tensor([0, 0, 0, 1]), 2, 0).tolist() == sample_rows(torch.tensor([0, 0, 0, 1]), 2, 0).tolist()
    assert len(sample_rows(torch.tensor([0, 0, 0, 1]), 2, 0)) == 3
    vals, idx = merge_lowest((torch.tensor([[1.0, 4.0]]), torch.tensor([[7, 8]])),
                             (torch.tensor([[2.0, 3.0]]), torch.tensor([[1, 2]])), 3)
    assert vals.tolist() == [[1.0, 2.0, 3.0]] and idx.tolist() == [[7, 1, 2]]


def test_a_mostly_frozen_column_is_scaled_by_the_pairs_that_move():
    # Pairs beyond the hinge's margin score exactly 0. Group 0 has three ordinary movers; group 1's
    # only movers are a bad take's two pairs, which against each other would look ordinary.
    values = torch.tensor([[0.0], [0.0], [0.0], [0.0], [0.5], [-0.4], [0.3], [0.0], [0.0], [0.0], [-9.0], [-8.0]])
    groups = torch.tensor([0] * 7 + [1] * 5)
    med, scale = column_stats(values, groups, 2)
    # Both groups and the column have MAD 0; the movers deviate from 0 by 0.5, 0.4, 0.3, 9, 8: median 0.5.
    assert med[:, 0].tolist() == [0.0, 0.0]
    assert scale[:, 0].tolist() == pytest.approx([0.5 * 1.4826] * 2)
    z = (values[10:, 0] - med[1, 0]) / scale[1, 0]
    assert (z < -10).all()
    _, frozen = column_stats(torch.zeros(4, 1), torch.tensor([0, 0, 1, 1]), 2)
    assert torch.isinf(frozen).all()  # nothing moves: z = 0
