"""Writing one compute run's outputs as one change, each stamped with the run's fingerprint.

Into the metadata folder, in this order, the influence run file last:
  {m}_{f}_influence_metadata.json   the nested JSON (unless --no-json)
  {m}_{f}_influence_matrix.npz      the dense matrix; its info holds the fingerprint
  {m}_{f}_metadata.json             sample records: split, self-influence, `tracin_run` = fingerprint
  {m}_{f}_influence_distribution.png
  {m}_{f}_influence_run.json        fingerprint, checkpoints, time, and the nested JSON's size and sha256

Every file is first written under a staging folder beside it, then all are renamed into place
with SIGINT / SIGTERM held back (`utils.staging.StagedFiles`): an interrupt leaves the
previous complete set or the new complete set. With self-influence only, just the sample
metadata and the run file are written.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from datasets.metadata import MetadataStore
from influence.fingerprint import K_INFLUENCE_JSON, file_record
from influence.io import InfluenceData, save_influence
from influence.plots import plot_influence_distribution
from utils.atomic_io import write_json_atomic
from utils.constants import (
    K_SELF_INFLUENCE,
    K_SPLIT,
    K_TRACIN_RUN,
    influence_plot_path_for,
    influence_run_path_for,
    matrix_path_for,
)
from utils.staging import StagedFiles

K_PAIR_SELF_INFLUENCE_MEAN = "tracin_pair_self_influence_mean"


def record_sample_metadata(
    store: MetadataStore,
    split: Mapping[str, Sequence[str]],
    train_pairs: Sequence[tuple[str, str]],
    pair_self: np.ndarray,
    train_ids: Sequence[str],
    rec_self: np.ndarray,
    fingerprint: str,
) -> None:
    """Set each split recording's split and `tracin_run`; for training recordings, their self-influence
    and the mean self-influence of their pairs. Self-influence left by another run on the other split
    recordings (validation, holdout, excluded) is removed: it would read as this run's."""
    pair_sum: dict[str, float] = {}
    pair_count: dict[str, int] = {}
    for (a, b), value in zip(train_pairs, np.asarray(pair_self, dtype=np.float64).tolist()):
        for sid in (a, b):
            pair_sum[sid] = pair_sum.get(sid, 0.0) + value
            pair_count[sid] = pair_count.get(sid, 0) + 1
    scored = dict(zip(train_ids, np.asarray(rec_self, dtype=np.float64).tolist()))
    for name, members in split.items():
        for sid in members:
            if sid not in store.records:
                continue  # a recording of the split that is no longer on disk
            store.update(sid, **{K_SPLIT: name, K_TRACIN_RUN: fingerprint})
            record = store.records[sid]
            if sid in scored:
                record[K_SELF_INFLUENCE] = float(scored[sid])
                record[K_PAIR_SELF_INFLUENCE_MEAN] = pair_sum.get(sid, 0.0) / max(pair_count.get(sid, 0), 1)
            else:
                record.pop(K_SELF_INFLUENCE, None)
                record.pop(K_PAIR_SELF_INFLUENCE_MEAN, None)


def write_influence_outputs(
    json_path: Path,
    data: InfluenceData,
    info: dict[str, Any],
    store: MetadataStore,
    with_influence: bool = True,
    write_json: bool = True,
    threshold: float | None = None,
) -> dict[str, Path]:
    """Write the outputs listed in the module docstring as one change; return them by kind.

    `info` (the run file's contents, also `data.info`) gets the nested JSON's identity.
    """
    json_path = Path(json_path)
    written: dict[str, Path] = {}
    with StagedFiles() as staged:
        if with_influence:
            if write_json:
                written["json"] = json_path
                staged.path(json_path)
            written["matrix"] = matrix_path_for(json_path)
            npz_tmp = staged.path(written["matrix"])
        written["metadata"] = store.path
        meta_tmp = staged.path(store.path)
        if with_influence:
            written["picture"] = influence_plot_path_for(json_path)
            png_tmp = staged.path(written["picture"])
        written["run"] = influence_run_path_for(json_path)
        run_tmp = staged.path(written["run"])

        info[K_INFLUENCE_JSON] = None
        if with_influence:
            json_tmp = npz_tmp.parent / json_path.name  # save_influence names the matrix after it
            save_influence(json_tmp, data, write_json=write_json)
            if write_json:
                info[K_INFLUENCE_JSON] = file_record(json_tmp)
            plot_influence_distribution(data, png_tmp, threshold)
        write_json_atomic(meta_tmp, store.records)
        write_json_atomic(run_tmp, info)
        staged.commit()
    store.mark_saved()
    return written
