"""What the exclusion rules need, computed from the engine without the (P, Q) matrix.

For every training pair: its `k` most negative standardised scores (`influence.standardize`)
with the validation pairs they fall on, and its mean standardised score. For every training
recording: the same over its recording-level influence (the sum of its pairs' rows), its
total raw influence and its self-influence. Memory is one block of rows (or of columns) at
a time, sized to `memory_budget`; the (P, Q) matrix exists only when a caller asks for it
through `dense` (a callback that receives each block).

The column statistics of the pair scores come from at most `per_group` training pairs of
each angle combination (a seeded sample when a group is larger): exact on small data, and
on large data the median of a column is then known to about 0.04 robust standard deviations
(1.25 / sqrt(1000)), small beside the cut at -3.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from influence.harm import LowScores
from influence.records import InfluenceRun
from influence.data import InfluenceData, angles_of
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
from tracin import TracInEngine
from tracin.engine import CheckpointTerms

DEFAULT_LOWEST = 32
DEFAULT_PER_GROUP = 1000
SCORE_BLOCK_BYTES = 8 * 2**20
"""Largest block of scores: blocks this small stay in the cache and in memory the allocator reuses (a fresh
block of 64 MB or more is new pages from the system each time, and filling it cost 10x as much here)."""
# (rows (B,) training pair indices, raw scores (B, Q), z-scores (B, Q)) -> None
DenseSink = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None]


def _rows_per_block(width: int, budget: int, bytes_per_value: int = 8, copies: int = 6) -> int:
    return max(1, budget // max(1, width * bytes_per_value * copies))


def pair_scores(
    engine: TracInEngine,
    terms: Sequence[CheckpointTerms],
    angles: torch.Tensor,
    k: int = DEFAULT_LOWEST,
    per_group: int = DEFAULT_PER_GROUP,
    seed: int = 0,
    memory_budget: int = 256 * 2**20,
    columns: torch.Tensor | None = None,
    dense: DenseSink | None = None,
    progress: Callable[[int], None] | None = None,
) -> LowScores:
    """Standardised pair scores, summarised per training pair.

    angles (M,): the angle of each input the engine uses (its local order). `columns`: the
    validation pairs to score (default: all). -> LowScores over the P training pairs (low float32,
    index int32, mean float64).
    """
    train_local = engine.train_local.cpu()
    groups, keys = group_labels(angle_pair_keys(angles.cpu(), train_local))
    n_cols = len(engine.test_local) if columns is None else len(columns)
    all_cols = torch.arange(n_cols) if columns is None else columns
    # Column statistics from a sample of each angle combination, in column chunks.
    stat_rows = sample_rows(groups, per_group, seed)
    med = torch.empty(len(keys), n_cols, dtype=torch.float64)
    scale = torch.empty_like(med)
    step = _rows_per_block(len(stat_rows), min(memory_budget, 2 * SCORE_BLOCK_BYTES), copies=1)
    for c in range(0, n_cols, step):
        cols = all_cols[c : c + step]
        vals = engine.influence_rows(terms, stat_rows, cols).cpu()
        med[:, c : c + len(cols)], scale[:, c : c + len(cols)] = column_stats(vals, groups[stat_rows], len(keys))
    # One pass over the training pairs, a group of the same two angles at a time (its statistics broadcast),
    # every block multiplied with one basis (tracin.pair_scores).
    basis = engine.score_basis(terms, columns)
    P = len(train_local)
    width = min(k, n_cols)
    low_z = torch.empty(P, width, dtype=torch.float32)
    low_idx = torch.empty(P, width, dtype=torch.int32)
    mean_z = torch.empty(P, dtype=torch.float64)
    step = _rows_per_block(n_cols + basis.width, min(memory_budget, SCORE_BLOCK_BYTES), bytes_per_value=4, copies=1)
    for g in range(len(keys)):
        members = torch.nonzero(groups == g).flatten()
        g_med, g_scale = med[g].float(), scale[g].float()
        for start in range(0, len(members), step):
            rows = members[start : start + step]
            # (Q', B): the engine's fastest layout (tracin.pair_scores); raw, standardised in place.
            z = engine.influence_rows(terms, rows, columns, transposed=True, basis=basis).cpu()
            if dense is not None:
                raw = z.T.to(torch.float64, copy=True)
                dense(rows, raw, standardize_group(raw.clone(), med[g], scale[g]))
            # In float32 and in place (the dense sink has its own copy): this pass is memory-bound.
            z = z.float().sub_(g_med[:, None]).div_(g_scale[:, None])
            vals, idx = lowest_columns(z, k)
            low_z[rows], low_idx[rows] = vals, (all_cols[idx] if columns is not None else idx).int()
            mean_z[rows] = z.sum(dim=0).double() / z.shape[0]  # a float32 cascade sum; a float64 one was 40x slower
            if progress is not None:
                progress(len(rows))
    return LowScores(low_z.numpy(), low_idx.numpy(), mean_z.numpy(), n_cols)


@dataclass
class RecordingScores(LowScores):
    """Per training recording, over its recording-level influence (the sum of its pairs' rows)."""

    total: np.ndarray  # (R,) raw influence summed over every validation pair
    self_influence: np.ndarray  # (R,)


def recording_scores(
    engine: TracInEngine,
    terms: Sequence[CheckpointTerms],
    recordings: torch.Tensor,
    recording_angles: torch.Tensor,
    k: int = DEFAULT_LOWEST,
    memory_budget: int = 256 * 2**20,
    columns: torch.Tensor | None = None,
) -> RecordingScores:
    """Recording-level influence of `recordings` (R,) (indices into the engine's inputs), standardised
    within the training recordings of the same stored angle (`recording_angles` (R,)), by column chunks.

    `columns`: the validation pairs to score (default: all), the same sample as the pair scores'.
    The total raw influence is exact over every validation pair either way.
    """
    parts = engine.recording_terms(terms, recordings, columns)
    self_infl = parts.self_influence.cpu()
    groups, keys = group_labels(recording_angles.cpu())
    R = len(recordings)
    all_cols = torch.arange(len(engine.test_local)) if columns is None else columns
    best: tuple[torch.Tensor, torch.Tensor] | None = None
    z_sum = torch.zeros(R, dtype=torch.float64)
    step = _rows_per_block(R, memory_budget)
    for c in range(0, len(all_cols), step):
        cols = all_cols[c : c + step]
        raw = engine.recording_columns(parts, cols).to(torch.float64)
        med, scale = column_stats(raw, groups, len(keys))
        z = standardize(raw, groups, med, scale)
        vals, idx = lowest(z, k)
        part = (vals, cols[idx])
        best = part if best is None else merge_lowest(best, part, k)
        z_sum += z.sum(dim=1)
    low_z, low_idx = best if best is not None else (torch.zeros(R, 0), torch.zeros(R, 0, dtype=torch.long))
    total = engine.recording_totals(parts).to(torch.float64)
    return RecordingScores(low_z.float().numpy(), low_idx.int().numpy(), (z_sum / max(len(all_cols), 1)).numpy(),
                           len(all_cols), total.numpy(), self_infl.double().numpy())


def summarize_dense(
    train_pairs: Sequence[tuple[str, str]],
    val_pairs: Sequence[tuple[str, str]],
    matrix: np.ndarray,
    info: InfluenceRun,
    rec_self_by_id: Mapping[str, float] | None = None,
    pair_self: np.ndarray | None = None,
    standardised: bool = False,
    angles_by_id: Mapping[str, float] | None = None,
) -> InfluenceData:
    """An `InfluenceData` from a dense (P, Q) matrix with string ids (older files, and tests).

    Every score is kept (k = Q) and standardised exactly (all rows). With `standardised` the
    matrix already holds z-scores (a nested JSON this toolkit wrote): it is used as it is,
    and the recording scores are standardised sums of them. Angles come from `angles_by_id`
    (the sample metadata) where it has them, else from the sample ids.
    """
    ids = sorted({s for pair in (*train_pairs, *val_pairs) for s in pair})
    index = {s: i for i, s in enumerate(ids)}
    known = angles_by_id or {}
    angles = np.asarray([known[s] if s in known else angles_of([s])[0] for s in ids], dtype=np.float64)
    tp = np.asarray([[index[a], index[b]] for a, b in train_pairs], dtype=np.int64).reshape(-1, 2)
    vp = np.asarray([[index[a], index[b]] for a, b in val_pairs], dtype=np.int64).reshape(-1, 2)
    matrix = torch.from_numpy(np.asarray(matrix, dtype=np.float64))
    groups, keys = group_labels(angle_pair_keys(torch.from_numpy(angles), torch.from_numpy(tp)))
    if standardised:
        z = matrix
    else:
        med, scale = column_stats(matrix, groups, len(keys))
        z = standardize(matrix, groups, med, scale)
    low_z, low_idx = lowest(z, z.shape[1])
    recordings = np.unique(tp)
    position = {r: k for k, r in enumerate(recordings.tolist())}
    rec = torch.zeros(len(recordings), matrix.shape[1], dtype=torch.float64)
    for col in (0, 1):
        rec.index_add_(0, torch.tensor([position[r] for r in tp[:, col].tolist()], dtype=torch.long), matrix)
    rec_groups, rec_keys = group_labels(torch.from_numpy(angles[recordings]))
    rmed, rscale = column_stats(rec, rec_groups, len(rec_keys))
    rz = standardize(rec, rec_groups, rmed, rscale)
    rec_low_z, rec_low_idx = lowest(rz, rz.shape[1])
    rec_self = None
    if rec_self_by_id is not None:
        rec_self = np.asarray([rec_self_by_id.get(ids[r], np.nan) for r in recordings], dtype=np.float64)
    return InfluenceData(
        sample_ids=ids, angles=angles, train_pairs=tp, val_pairs=vp, recordings=recordings,
        pair_low_z=low_z.float().numpy(), pair_low_idx=low_idx.numpy(), pair_mean_z=z.mean(dim=1).numpy(),
        rec_low_z=rec_low_z.float().numpy(), rec_low_idx=rec_low_idx.numpy(), rec_mean_z=rz.mean(dim=1).numpy(),
        rec_total=rec.sum(dim=1).numpy(), rec_self_influence=rec_self, pair_self_influence=pair_self,
        influence=None if standardised else matrix.numpy(), influence_z=z.numpy(), info=info,
    )
