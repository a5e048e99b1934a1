"""Scores on a scale that does not depend on the run: robust z among comparable training items.

A raw TracIn score's size depends on the model, the learning rates and the measurement, so
a fixed threshold such as the tutorial's -3.0 would mean something different on every run.
Each score is therefore standardised within its validation pair's column, against the
training items it should be compared with:

    z = (score - median) / (1.4826 x MAD)

where the median and the MAD (median absolute deviation) are taken over the *training
pairs of the same two angles* (for pair scores) or the *training recordings of the same
stored angle* (for recording scores). Why the groups: in a ranking task every training pair
legitimately helps some validation pairs and harms others, depending on the angles
involved; against pairs of the same angles, what is left is what is unusual about this
pair's recordings, and a mislabeled take makes all its pairs unusual.

A MAD of 0 is common once the model has fitted most pairs: a hinge loss gives a pair
beyond the margin no gradient, so its score is exactly 0 at every checkpoint (at 2,000
demo recordings, 94% of the training pairs). Such a group falls back to the MAD of the
whole column, and where more than half of the column is 0 as well, to the MAD of the
column's *moving* scores (those that differ from its median): harm is then measured
against the spread of the training pairs that still carry a gradient, across all angle
groups, not within a group where the only movers may be a bad take's pairs. Only a column
in which nothing moves gets z = 0.

-3.0 therefore means "three robust standard deviations more harmful than comparable
training items, for this validation pair", on every run. docs/design.md has the measured
comparison with plain per-column z-scores.
"""
from __future__ import annotations

import numpy as np
import torch

from influence.stats import MAD_SCALE

def group_labels(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Group index of each row for keys (n,) or key tuples (n, k), groups in sorted key order.
    -> (groups (n,), distinct keys (G, ...)).

    Tuples are encoded as one integer per row first: `torch.unique(dim=0)` took 45 s and
    2.5 GB for the 10 million training pairs of 10,000 recordings, this about a second.
    """
    if keys.dim() == 1:
        distinct, inverse = torch.unique(keys, return_inverse=True)
        return inverse, distinct
    levels, level_of = torch.unique(keys, return_inverse=True)  # level_of: (n, k), one shared list of values
    code = level_of[:, 0].clone()
    for c in range(1, keys.shape[1]):
        code.mul_(len(levels)).add_(level_of[:, c])
    distinct_codes, inverse = torch.unique(code, return_inverse=True)
    first = torch.empty(len(distinct_codes), dtype=torch.long)
    first.scatter_(0, inverse, torch.arange(len(code)))  # a row of each group
    return inverse, keys[first]


def angle_pair_keys(angles: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """The unordered angle combination of each pair: (P, 2) = (smaller angle, larger angle).

    TracIn of a pair does not change when its two recordings swap places (the margin, the
    target and the derivative all change sign), so (i, j) and (j, i) belong together.
    """
    a, b = angles[pairs[:, 0]], angles[pairs[:, 1]]
    return torch.stack([torch.minimum(a, b), torch.maximum(a, b)], dim=1)


def sample_rows(groups: torch.Tensor, per_group: int, seed: int) -> torch.Tensor:
    """Row indices: every row of a group with at most `per_group` rows, else a seeded sample of that many. Sorted."""
    gen = torch.Generator().manual_seed(seed)
    picked = []
    for g in torch.unique(groups).tolist():
        members = torch.nonzero(groups == g).flatten()
        if len(members) > per_group:
            members = members[torch.randperm(len(members), generator=gen)[:per_group]]
        picked.append(members)
    return torch.sort(torch.cat(picked)).values if picked else torch.zeros(0, dtype=torch.long)


def _median(values: torch.Tensor, scratch: bool = False) -> torch.Tensor:
    """Median along dim 0, the mean of the two middle values for an even count (numpy's, which
    partitions in linear time; torch.quantile sorts and was 30x slower here). `scratch`: `values`
    may be reordered within its columns (no copy; the caller needs only each column's values)."""
    if not values.shape[1]:
        return values.new_zeros(0)
    return torch.from_numpy(np.median(values.numpy(), axis=0, overwrite_input=scratch))


def _median_of_moving(deviations: torch.Tensor) -> torch.Tensor:
    """Per column of absolute deviations (n, Q'): the median of those above 0 (0 where there are none).

    Each column sorted once (its zeros first): the median of its m values above 0 sits at the
    middle of the last m, with no per-column loop (numpy's nanmedian looped, 6 s at 1,000 recordings).
    """
    ordered = np.sort(deviations.numpy().T, axis=1)  # (Q', n)
    n = ordered.shape[1]
    zeros = np.count_nonzero(ordered == 0, axis=1)
    moving = n - zeros
    cols = np.arange(ordered.shape[0])
    lo = ordered[cols, np.clip(zeros + (moving - 1) // 2, 0, max(n - 1, 0))] if n else np.zeros(len(cols))
    hi = ordered[cols, np.clip(zeros + moving // 2, 0, max(n - 1, 0))] if n else np.zeros(len(cols))
    return torch.from_numpy(np.where(moving > 0, (lo + hi) / 2, 0.0))


def column_stats(values: torch.Tensor, groups: torch.Tensor, n_groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per group and column: the median and the robust standard deviation 1.4826 x MAD.

    values (n, Q) for rows of known `groups` (n,) in [0, n_groups) -> (median (G, Q), scale (G, Q)).
    A scale of 0 falls back to the column's scale over all n rows, and that one, when 0, to
    the median absolute deviation of the column's values that differ from its median (x 1.4826);
    a group without rows gets the column's median and scale. A scale that is still 0 (nothing
    in the column moves) is returned as infinity (z = 0).
    """
    values = values.to(torch.float64)
    n_cols = values.shape[1]
    med = values.new_zeros((n_groups, n_cols))
    scale = values.new_zeros((n_groups, n_cols))
    present = torch.zeros(n_groups, dtype=torch.bool)
    # Each group's rows made contiguous once (a boolean mask per group scanned every row each time).
    order = torch.argsort(groups, stable=True)
    ordered = values[order]
    bounds = torch.searchsorted(groups[order], torch.arange(n_groups + 1)).tolist()
    for g in range(n_groups):
        rows = ordered[bounds[g] : bounds[g + 1]]
        if len(rows):
            present[g] = True
            med[g] = _median(rows, scratch=True)  # `ordered` is this function's copy
            scale[g] = MAD_SCALE * _median((rows - med[g]).abs_(), scratch=True)
    # The column-wide statistics only where a group needs them (no rows, or a scale of 0).
    fallback = torch.nonzero((~present[:, None] | (scale == 0)).any(dim=0)).flatten()
    if len(fallback):
        col_med, col_scale = _column_fallback(values[:, fallback])
        med[:, fallback] = torch.where(present[:, None], med[:, fallback], col_med)
        scale[:, fallback] = torch.where(present[:, None] & (scale[:, fallback] > 0), scale[:, fallback], col_scale)
    return med, torch.where(scale > 0, scale, torch.full_like(scale, float("inf")))


def _column_fallback(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Median and scale of whole columns (n, Q'); a scale of 0 from the MAD of the column's moving values.
    `values` is the caller's scratch copy (reordered within columns here)."""
    col_med = _median(values, scratch=True)
    col_dev = (values - col_med).abs_()
    col_scale = MAD_SCALE * _median(col_dev.clone(), scratch=True)
    still = torch.nonzero(col_scale == 0).flatten()
    if len(still):
        col_scale[still] = MAD_SCALE * _median_of_moving(col_dev[:, still])
    return col_med, col_scale


def standardize(values: torch.Tensor, groups: torch.Tensor, median: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """z of `values` (B, Q) whose rows belong to `groups` (B,), with the (G, Q) statistics of `column_stats`."""
    return (values - median[groups].to(values.dtype)) / scale[groups].to(values.dtype)


def standardize_group(values: torch.Tensor, median: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """`standardize` for rows of one group, in place: values (B, Q), median and scale (Q,)."""
    return values.sub_(median.to(values.dtype)).div_(scale.to(values.dtype))


def lowest(z: torch.Tensor, k: int, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The k smallest values of each row, ascending, and their column indices (+ offset). (B, Q) -> (B, k'), k' = min(k, Q)."""
    k = min(k, z.shape[1])
    vals, idx = torch.topk(z, k, dim=1, largest=False, sorted=True)
    return vals, idx + offset


LOWEST_CHUNK = 16
"""Rows per chunk in `lowest_columns`: its first pass reads every value once, its second reads k x 16 per column."""


def lowest_columns(z: torch.Tensor, k: int, chunk: int = LOWEST_CHUNK) -> tuple[torch.Tensor, torch.Tensor]:
    """The k smallest values of each column of z (Q, B), ascending, and their row indices. -> (B, k'), k' = min(k, Q).

    The same values as `lowest(z.T, k)` (ties may pick other indices). The k smallest of a column lie in the
    k chunks of `chunk` rows with the smallest minima (a chunk holding one of them has a minimum no larger
    than the k-th smallest, and at most k chunks do), so only those chunks are searched: one pass over z
    for the chunk minima instead of a selection over each whole column (torch.topk was 5.4 s per 2e9
    scores, this 1 s).
    """
    Q, B = z.shape
    k = min(k, Q)
    n_full = Q // chunk
    if n_full <= k:
        return lowest(z.T, k)
    mins = z[: n_full * chunk].view(n_full, chunk, B).amin(dim=1)  # (chunks, B)
    if Q > n_full * chunk:
        mins = torch.cat([mins, z[n_full * chunk :].amin(dim=0, keepdim=True)])
    if bool(mins.isnan().any()):  # amin spreads a NaN over its chunk; topk ranks NaN above every number
        return lowest(z.T, k)
    best = torch.topk(mins.T, k, dim=1, largest=False, sorted=False).indices  # (B, k)
    rows = (best[:, :, None] * chunk + torch.arange(chunk, device=z.device)).reshape(B, -1)  # (B, k x chunk)
    outside = rows >= Q  # the last chunk's missing rows
    rows.clamp_(max=Q - 1)
    candidates = z[rows, torch.arange(B, device=z.device)[:, None]].masked_fill_(outside, float("inf"))
    vals, pos = torch.topk(candidates, k, dim=1, largest=False, sorted=True)
    return vals, rows.gather(1, pos)


def merge_lowest(
    a: tuple[torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor], k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k smallest of two (values, indices) row sets, ascending (ties keep `a` first)."""
    vals = torch.cat([a[0], b[0]], dim=1)
    idx = torch.cat([a[1], b[1]], dim=1)
    order = torch.sort(vals, dim=1, stable=True).indices[:, : min(k, vals.shape[1])]
    return torch.gather(vals, 1, order), torch.gather(idx, 1, order)
