"""Robust z among comparable training items, worked by hand: the groups, the column statistics and their
fallbacks (a group, then a column, that does not move), and the lowest scores kept."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from influence.standardize import (
    angle_pair_keys,
    column_stats,
    group_labels,
    lowest,
    lowest_columns,
    merge_lowest,
    sample_rows,
    standardize,
    standardize_group,
)

S = 1.4826  # MAD -> robust standard deviation


def test_groups_follow_the_sorted_keys_and_a_pair_is_the_same_either_way_round():
    groups, keys = group_labels(torch.tensor([36.0, 0.0, 36.0, 72.0]))
    assert groups.tolist() == [1, 0, 1, 2] and keys.tolist() == [0.0, 36.0, 72.0]
    angles = torch.tensor([0.0, 36.0, 72.0])
    pair_keys = angle_pair_keys(angles, torch.tensor([[0, 1], [1, 0], [2, 0], [1, 2]]))
    assert pair_keys.tolist() == [[0.0, 36.0], [0.0, 36.0], [0.0, 72.0], [36.0, 72.0]]
    groups, keys = group_labels(pair_keys)
    assert groups.tolist() == [0, 0, 1, 2] and keys.tolist() == [[0.0, 36.0], [0.0, 72.0], [36.0, 72.0]]


def test_sample_rows_keeps_small_groups_whole_and_samples_large_ones_by_seed():
    groups = torch.tensor([0] * 3 + [1] * 10)
    rows = sample_rows(groups, per_group=4, seed=7)
    assert rows[:3].tolist() == [0, 1, 2] and len(rows) == 7 and rows.tolist() == sorted(rows.tolist())
    assert torch.equal(rows, sample_rows(groups, 4, 7)) and not torch.equal(rows, sample_rows(groups, 4, 8))
    assert sample_rows(torch.zeros(0, dtype=torch.long), 4, 0).tolist() == []


def test_column_statistics_and_their_fallbacks():
    # Column 0: group 0 moves (median 3, MAD 1); group 1 is flat, so it takes the whole column's spread.
    # Column 1: more than half of it is 0, so the column's MAD is 0 and the movers' MAD (of 2, 4, 6) decides.
    # Column 2: nothing moves anywhere: scale infinity, z = 0.
    values = torch.tensor([[1.0, 0.0, 5.0], [2.0, 0.0, 5.0], [3.0, 0.0, 5.0], [4.0, 2.0, 5.0], [100.0, 4.0, 5.0],
                           [7.0, 0.0, 5.0], [7.0, 6.0, 5.0], [7.0, 0.0, 5.0]], dtype=torch.float64)
    groups = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1])
    med, scale = column_stats(values, groups, 3)
    assert med[0].tolist() == [3.0, 0.0, 5.0] and med[1].tolist() == [7.0, 0.0, 5.0]
    column0 = S * float(np.median(np.abs(values[:, 0].numpy() - np.median(values[:, 0].numpy()))))
    assert scale[0, 0].item() == pytest.approx(S) and scale[1, 0].item() == pytest.approx(column0)
    assert scale[0, 1].item() == pytest.approx(S * 4.0) == scale[1, 1].item()  # median of |2|, |4|, |6|
    assert torch.isinf(scale[:, 2]).all()
    # A group without rows takes the column's statistics.
    assert med[2, 0].item() == pytest.approx(float(np.median(values[:, 0].numpy())))
    z = standardize(values, groups, med, scale)
    assert z[4, 0].item() == pytest.approx(97 / S) and z[6, 1].item() == pytest.approx(6 / (S * 4))
    assert (z[:, 2] == 0).all()
    one = standardize_group(values[groups == 1].clone(), med[1], scale[1])
    assert torch.allclose(one, z[groups == 1])


def test_the_lowest_scores_of_each_row_and_their_merge():
    z = torch.tensor([[3.0, -1.0, 2.0, -5.0], [0.0, 0.0, 1.0, -2.0]])
    vals, idx = lowest(z, 2, offset=10)
    assert vals.tolist() == [[-5.0, -1.0], [-2.0, 0.0]] and idx[0].tolist() == [13, 11] and idx[1, 0].item() == 13
    assert lowest(z, 9)[0].shape == (2, 4)
    merged = merge_lowest((vals, idx), (torch.tensor([[-3.0], [-2.0]]), torch.tensor([[20], [21]])), 2)
    assert merged[0].tolist() == [[-5.0, -3.0], [-2.0, -2.0]] and merged[1].tolist() == [[13, 20], [13, 21]]


@pytest.mark.parametrize("shape,k", [((100, 7), 3), ((37, 5), 2), ((16, 3), 4), ((48, 2), 40), ((5, 3), 9)])
def test_the_lowest_of_each_column_are_the_lowest_of_each_row_of_the_transpose(shape, k):
    """Chunk minima choose where to look; the values are those of a full selection, ties included, and each
    index points at its value; a short last chunk, k beyond the chunks and NaN fall back or mask correctly."""
    gen = torch.Generator().manual_seed(shape[0])
    z = torch.randint(-20, 20, shape, generator=gen).float()  # integers: many ties
    z[3, 0] = -100.0  # one column's extreme in the short last chunk too
    z[-1, -1] = -100.0
    vals, idx = lowest_columns(z, k, chunk=16)
    ref_vals, _ = lowest(z.T, k)
    assert torch.equal(vals, ref_vals)
    assert torch.equal(z.T.gather(1, idx), vals) and all(len(set(r)) == len(r) for r in idx.tolist())
    with_nan = z.clone()
    with_nan[1, 1] = float("nan")
    torch.testing.assert_close(lowest_columns(with_nan, k, chunk=16)[0], lowest(with_nan.T, k)[0], rtol=0, atol=0,
                               equal_nan=True)
