"""Planning and writing one compute run's outputs as one change, each stamped with the run's fingerprint.

Into the metadata folder, in this order (after a dated backup of the sample metadata), the influence
run file last:
  {m}_{f}_influence_metadata.json   the nested JSON (unless --no-json; every standardised
                                    score when the matrix is dense, else the harmful pairs)
  {m}_{f}_influence_matrix.npz      the scores and summaries (influence.npz); its info holds the fingerprint
  {m}_{f}_metadata.json             sample records: split, self-influence, `tracin_run` = fingerprint
                                    (the previous file kept as a dated backup, `utils.backups`)
  {m}_{f}_influence_distribution.png
  {m}_{f}_influence_run.json        fingerprint, checkpoints, time, and the nested JSON's size and sha256

Every file is first written under a staging folder beside it, then all are renamed into place
with SIGINT / SIGTERM held back (`utils.staging.StagedFiles`): an interrupt leaves the
previous complete set or the new complete set.

What is written depends on size (`plan_outputs`): the dense (P, Q) matrices and a nested JSON
of every score only up to `DENSE_CELLS` cells unless --dense asks for them; beyond
--max-cells the pair scores count on a seeded sample of the validation pairs. Before
anything is computed, the free space of the metadata folder is checked against an
estimate of the outputs, and a shortfall is one line saying how much is needed.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from datasets.metadata import MetadataStore
from influence.config import InfluenceConfig
from influence.harm import describe_rule
from influence.data import InfluenceData
from influence.io import save_influence
from influence.nested_json import NESTED_FULL, NESTED_HARMFUL
from influence.records import ColumnsScored, FileIdentity, InfluenceRun, InfluenceSummary
from influence.plots import plot_influence_distribution
from utils.atomic_io import write_json_atomic
from utils.backups import new_backup_path, prune_backups
from utils.constants import (
    K_SELF_INFLUENCE,
    K_SPLIT,
    K_TRACIN_INFO,
    K_TRACIN_RUN,
    influence_plot_path_for,
    influence_run_path_for,
    matrix_path_for,
)
from utils.staging import StagedFiles

log = logging.getLogger(__name__)

DENSE_CELLS = 1_000_000
"""Largest P x Q for which the dense matrices and a nested JSON of every score are written by default."""
DEFAULT_MAX_CELLS = 2_000_000_000
"""Default --max-cells: about a minute of pair scores and their summaries on one thread."""
MIN_SAMPLED_COLUMNS = 256
"""Without --max-cells, the scores count on at least this many validation pairs however many
training pairs there are: a bad take's pairs are harmful on a good share of them (about a tenth
at 2,000 demo recordings), so even 256 leave such a pair well above --min-occurrences 5."""
LOWEST_BYTES = 2**30
"""Memory for the kept lowest scores of all training pairs when --keep-lowest is not given."""
MAX_AUTO_LOWEST, MIN_AUTO_LOWEST = 32, 8
JSON_BYTES_PER_CELL = 75

K_PAIR_SELF_INFLUENCE_MEAN = "tracin_pair_self_influence_mean"


@dataclass
class OutputPlan:
    """What compute writes: dense matrices or not, and which validation pairs the pair scores count."""

    dense: bool
    columns: torch.Tensor | None  # sorted validation pair indices, None = all
    seed: int
    keep_lowest: int

    def describe_columns(self, total: int) -> ColumnsScored:
        """What the run file says of the validation pairs scored, of `total`."""
        scored = total if self.columns is None else len(self.columns)
        return ColumnsScored(scored, total, self.columns is not None)


def _gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


def keep_lowest_for(P: int, asked: int | None) -> int:
    """--keep-lowest, or by default 32 per training pair while they fit in `LOWEST_BYTES` (8 bytes
    each), down to 8 (at 10,000 recordings, 20 million pairs); never fewer than --min-occurrences needs."""
    if asked is not None:
        return asked
    return int(min(MAX_AUTO_LOWEST, max(MIN_AUTO_LOWEST, LOWEST_BYTES // (8 * max(P, 1)))))


def plan_outputs(cfg: InfluenceConfig, P: int, Q: int, folder: Path, writer: bool, seed: int) -> OutputPlan:
    """Decide dense or not, the validation pairs to score and the lowest scores to keep; refuse
    (one line) what the disk cannot hold."""
    cells = P * Q
    columns = None
    k = keep_lowest_for(P, cfg.keep_lowest)
    limit = cfg.max_cells if cfg.max_cells is not None else max(DEFAULT_MAX_CELLS, MIN_SAMPLED_COLUMNS * P)
    n = max(k, limit // max(P, 1))
    if cfg.compute_influence and cells > limit and n < Q:
        gen = torch.Generator().manual_seed(seed)
        columns = torch.sort(torch.randperm(Q, generator=gen)[:n]).values
        log.warning("%d training x %d validation pairs is more than --max-cells %d: the scores count on a seeded "
                    "sample of %d validation pairs (the run file says so)", P, Q, limit, n)
    dense = cfg.compute_influence and (cfg.dense if cfg.dense is not None else cells <= DENSE_CELLS and columns is None)
    if dense and columns is not None:
        raise ValueError(f"--dense needs every validation pair scored, but {P} x {Q} = {cells:,} cells is more than "
                         f"--max-cells {limit:,}: raise --max-cells, or drop --dense")
    summary_bytes = P * (k * 8 + 40) + Q * 8
    dense_bytes = cells * 12 if dense else 0
    json_bytes = 0
    if cfg.compute_influence and cfg.write_json:
        json_bytes = cells * JSON_BYTES_PER_CELL if dense else P * min(k, Q) * JSON_BYTES_PER_CELL // 4
    needed = int(1.2 * (summary_bytes + 2 * dense_bytes + json_bytes))  # the scratch matrices, then the npz
    if writer:
        free = shutil.disk_usage(folder).free
        if needed > free:
            hint = ("drop --dense (the summary files need about "
                    f"{_gb(1.2 * (summary_bytes + P * min(k, Q) * JSON_BYTES_PER_CELL // 4))})") \
                if dense else "free some space, or pass --no-json"
            if dense and cfg.dense is None:  # dense by default at this size, not asked for
                hint = hint.replace("drop --dense", "pass --no-dense")
            raise ValueError(f"the influence files need about {_gb(needed)} in {folder}, which has {_gb(free)} free: {hint}")
    return OutputPlan(dense, columns, seed, k)


class ScratchMatrices:
    """The dense raw (float64) and standardised (float32) (P, Q) matrices, filled block by block
    into memory-mapped scratch files in `folder` (removed by `remove`; the maps stay readable)."""

    def __init__(self, folder: Path, P: int, Q: int):
        self.paths: list[Path] = []
        self.raw = self._open(folder, "raw", np.float64, (P, Q))
        self.z = self._open(folder, "z", np.float32, (P, Q))

    def _open(self, folder: Path, name: str, dtype, shape) -> np.memmap:
        fd, path = tempfile.mkstemp(prefix=f".influence-scratch-{name}.", suffix=".npy", dir=folder)
        os.close(fd)
        self.paths.append(Path(path))
        return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)

    def sink(self, rows: torch.Tensor, raw: torch.Tensor, z: torch.Tensor) -> None:
        self.raw[rows.numpy()] = raw.double().numpy()
        self.z[rows.numpy()] = z.float().numpy()

    def remove(self) -> None:
        for path in self.paths:
            path.unlink(missing_ok=True)


def summarize(data: InfluenceData, terms: Sequence[Any]) -> InfluenceSummary:
    """What compute prints: sizes, pairs without gradient, harmful pairs under the default rule, quantiles."""
    train_zero = int(torch.stack([t.train_deriv == 0 for t in terms]).all(dim=0).sum())
    test_zero = int(torch.stack([t.test_deriv == 0 for t in terms]).all(dim=0).sum())
    summary = InfluenceSummary(len(data.train_pairs), data.n_validation_pairs, len(data.recordings), train_zero, test_zero)
    scores = data.pair_scores()
    if scores.k:
        deciding, summary.quantile_rank = scores.deciding_scores()
        summary.harmful_pairs = int(np.count_nonzero(scores.harmful()))
        summary.quantiles = {f"{q:g}": float(np.quantile(deciding, q)) for q in (0.0, 0.01, 0.05, 0.25, 0.5)}
    return summary


@dataclass
class WrittenFiles:
    """The files one compute run wrote (`write_influence_outputs`); None: not written."""

    influence_file: Path
    matrix: Path
    metadata: Path
    run: Path
    json: Path | None = None
    picture: Path | None = None
    metadata_backup: Path | None = None
    """The dated backup of the sample metadata this run replaced."""


def report_lines(info: InfluenceRun, written: WrittenFiles, with_pairs: bool) -> list[str]:
    """What compute_tracin_influence.py prints: the run (as its run file says) and the files it wrote."""
    s = info.summary
    lines = [
        f"run fingerprint: {info.fingerprint} ({info.processes} process(es))",
        "checkpoints (epoch:learning rate): " + ", ".join(f"{c.epoch}:{c.eta:.3g}" for c in info.checkpoints),
        f"{s.train_pairs} training pairs, {s.validation_pairs} validation pairs, {s.training_recordings} "
        f"training recordings; measurement {info.measurement}; done in {s.seconds} s"
        + (f" (TracIn {s.seconds_tracin} s)" if s.seconds_tracin is not None else ""),
        f"pairs with no gradient at any checkpoint: {s.train_pairs_without_gradient} training "
        f"(beyond the margin), {s.validation_pairs_without_gradient} validation",
    ]
    if with_pairs:
        cols = info.validation_pairs_scored
        if cols.sample:
            lines.append(f"pair scores count on a seeded sample of {cols.scored} of {cols.of} validation pairs")
        lines += [
            f"scale: {info.scale}",
            f"harmful under the tutorial's rule ({describe_rule()}): {s.harmful_pairs} training pairs; "
            f"{s.quantile_rank}th lowest z quantiles: " + ", ".join(f"{q}: {v:.3g}" for q, v in s.quantiles.items()),
            f"picture: {written.picture}",
        ]
    lines.append(f"influence file: {written.influence_file} (nested JSON: {info.nested_json or 'not written'})")
    if written.metadata_backup is not None:
        lines.append(f"previous sample metadata kept as {written.metadata_backup}")
    return lines


def record_sample_metadata(store: MetadataStore, split: Mapping[str, Sequence[str]], data: InfluenceData,
                           fingerprint: str) -> None:
    """Set each split recording's split and `tracin_run`; for training recordings, their self-influence
    and the mean self-influence of their pairs. Self-influence left by another run on the other split
    recordings (validation, holdout, excluded) is removed: it would read as this run's."""
    ids = data.sample_ids
    pair_sum: dict[str, float] = {}
    pair_count: dict[str, int] = {}
    if data.pair_self_influence is not None and len(data.train_pairs):
        # Per recording, by index: a loop over the pairs held 1.7 GB of Python objects at 10 million pairs.
        members = data.train_pairs.ravel()
        sums = np.bincount(members, weights=np.repeat(data.pair_self_influence, 2), minlength=len(ids))
        counts = np.bincount(members, minlength=len(ids))
        for r in np.flatnonzero(counts).tolist():
            pair_sum[ids[r]], pair_count[ids[r]] = float(sums[r]), int(counts[r])
    scored = {} if data.rec_self_influence is None else dict(zip(data.recording_ids, data.rec_self_influence.tolist()))
    for name, members in split.items():
        for sid in members:
            if sid not in store.records:
                continue  # a recording of the split that is no longer on disk
            _keep_reasons_under_their_run(store.records[sid])
            store.update(sid, **{K_SPLIT: name, K_TRACIN_RUN: fingerprint})
            record = store.records[sid]
            if sid in scored:
                record[K_SELF_INFLUENCE] = float(scored[sid])
                record[K_PAIR_SELF_INFLUENCE_MEAN] = pair_sum.get(sid, 0.0) / max(pair_count.get(sid, 0), 1)
            else:
                record.pop(K_SELF_INFLUENCE, None)
                record.pop(K_PAIR_SELF_INFLUENCE_MEAN, None)


def _keep_reasons_under_their_run(record: dict[str, Any]) -> None:
    """A list's reasons (`tracin_info`, written by generate) name the compute run they came from before the
    record's own `tracin_run` moves on to this run: the metadata never claims them for a run that did not make them."""
    info = record.get(K_TRACIN_INFO)
    if isinstance(info, dict) and K_TRACIN_RUN not in info and isinstance(record.get(K_TRACIN_RUN), str):
        info[K_TRACIN_RUN] = record[K_TRACIN_RUN]


def write_influence_outputs(json_path: Path, data: InfluenceData, store: MetadataStore, with_pairs: bool = True,
                            write_json: bool = True) -> WrittenFiles:
    """Write the outputs listed in the module docstring as one change, `data.info` as the run file (it gets
    what the nested JSON holds and its identity); return them."""
    json_path, info = Path(json_path), data.info
    write_json = write_json and with_pairs
    written = WrittenFiles(json_path, matrix_path_for(json_path), store.path, influence_run_path_for(json_path),
                           json=json_path if write_json else None,
                           picture=influence_plot_path_for(json_path) if with_pairs else None)
    with StagedFiles() as staged:
        backup = new_backup_path(store.path) if store.path.is_file() and store.changed else None
        if backup is not None:  # a file people edit: its previous version is kept (renamed first, like every backup)
            shutil.copy2(store.path, staged.path(backup))
        if write_json:
            staged.path(json_path)
        npz_tmp, meta_tmp = staged.path(written.matrix), staged.path(store.path)
        png_tmp = staged.path(written.picture) if with_pairs else None
        run_tmp = staged.path(written.run)
        json_tmp = npz_tmp.parent / json_path.name  # save_influence names the matrix after it
        info.nested_json = (NESTED_FULL if data.influence_z is not None else NESTED_HARMFUL) if write_json else None
        info.influence_json = None
        save_influence(json_tmp, data, write_json=write_json)
        if write_json:
            info.influence_json = FileIdentity.of(json_tmp)
        if with_pairs:
            plot_influence_distribution(data, png_tmp)
        write_json_atomic(meta_tmp, store.records)
        write_json_atomic(run_tmp, info.to_dict())
        staged.commit()
    store.mark_saved()
    if backup is not None:
        written.metadata_backup = backup
        prune_backups(store.path)
    return written
