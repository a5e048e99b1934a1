"""Recording-level TracIn: removing a recording removes every training pair it is in.

With c_r = sum over the training pairs p = (i, j) containing r of l'_p (e_i - e_j), a vector
over the T inputs the training pairs use, removing r changes test pair q = (k, l) by
c_r^T K d_q and costs itself c_r^T K c_r. Per checkpoint, C (R, T) needs only two products
with K: C K[T, T] for the self-influence, and C K[T, S] over the test inputs S that the scored
test pairs use; the sum over every test pair is C (K[T, test] d), one vector, so the (R, all
test inputs) matrix is never formed.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class RecordingTerms:
    """What recording-level influence is built from, without the (R, Q) matrix.

    Removing recording r changes test pair q = (k, l) by sum_g (accs[g][r, where[k]] - accs[g][r, where[l]])
    derivs[g][q]; `totals` is that summed over every test pair, `self_influence` c_r^T K c_r over the checkpoints.
    """

    accs: list[torch.Tensor]  # per group of checkpoints with equal test derivatives: (R, S)
    derivs: list[torch.Tensor]  # per group: b_g (Q,), every test pair
    where: torch.Tensor  # (M_test,): column of `accs` of each test input, -1 where not kept
    totals: torch.Tensor  # (R,)
    self_influence: torch.Tensor  # (R,)


def coefficients(first: torch.Tensor, second: torch.Tensor, derivs: torch.Tensor, row_of: torch.Tensor,
                 n_rows: int) -> torch.Tensor:
    """C (R, T): row r = sum over training pairs containing recording r of l'_p (e_i - e_j).

    first, second (P,): each pair's positions among the T training inputs; derivs (P,) l'_p;
    row_of (T,): the row of C of each training input (-1: not asked for); n_rows: R.
    """
    width = len(row_of)
    flat = derivs.new_zeros(n_rows * width)
    for owner in (first, second):
        keep = row_of[owner] >= 0
        base = row_of[owner][keep] * width
        flat.index_add_(0, base + first[keep], derivs[keep])  # one flat index_add: a 2-D index_put was 5x slower
        flat.index_add_(0, base + second[keep], -derivs[keep])
    return flat.view(n_rows, width)


def test_vector(test_pos: torch.Tensor, deriv: torch.Tensor, n_inputs: int) -> torch.Tensor:
    """d (M_test,): + b_q at each test pair's first input, - b_q at its second, summed over the pairs."""
    d = deriv.new_zeros(n_inputs)
    d.index_add_(0, test_pos[:, 0], deriv)
    d.index_add_(0, test_pos[:, 1], -deriv)
    return d
