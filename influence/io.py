"""Reading and writing one compute run's influence files (formats in docs/design.md), beside each
other in the metadata folder:

- `{m}_{f}_influence_matrix.npz`, what generate reads (`influence.npz`);
- `{m}_{f}_influence_metadata.json`, the nested public shape older tools wrote (`influence.nested_json`);
- `{m}_{f}_influence_run.json`, how the scores were made (`recorded_data_root` reads the data root
  back for the next step).

generate reads each of them once: `read_run_info` and `read_matrix` return what the run checks
(`influence.fingerprint`), `load_influence` and `recorded_data_root` then take as read.
`load_influence` prefers the npz; without one it parses the nested JSON and standardises its
scores itself (`summary.summarize_dense`), unless the run file says they already are.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from influence.data import InfluenceData
from influence.config import DEFAULT_MIN_OCCURRENCES, DEFAULT_THRESHOLD
from influence.nested_json import parse_nested, write_nested_json
from influence.npz import read_npz, write_npz
from influence.records import SCALE, InfluenceRun
from utils.constants import K_ANGLE, K_SELF_INFLUENCE, influence_run_path_for, matrix_path_for

log = logging.getLogger(__name__)


def save_influence(
    json_path: str | Path, data: InfluenceData, write_json: bool = True, threshold: float = DEFAULT_THRESHOLD,
    min_occurrences: int = DEFAULT_MIN_OCCURRENCES
) -> str | None:
    """Write the npz beside `json_path` and (unless `write_json` is False) the nested JSON; both atomically.

    The nested JSON holds every standardised score when `data.influence_z` is there, else the
    harmful pairs under `threshold` / `min_occurrences`. Returns what it holds (None: not written).
    """
    json_path = Path(json_path)
    dense = data.influence_z is not None
    if dense and not all(np.isfinite(data.influence_z[r : r + 4096]).all() for r in range(0, len(data.train_pairs), 4096)):
        raise ValueError("influence scores must be finite (found NaN or infinity)")
    json_bytes, nested = -1, None
    if write_json:
        nested = write_nested_json(json_path, data, threshold, min_occurrences)
        json_bytes = json_path.stat().st_size
    write_npz(matrix_path_for(json_path), data, json_bytes)
    log.debug("wrote %s%s", matrix_path_for(json_path), f" and {json_path} ({nested})" if nested else "")
    return nested


def read_run_info(json_path: str | Path) -> InfluenceRun:
    """The influence run file beside an influence file (an empty record when there is none): read it once and
    pass it on (`load_influence`, `recorded_data_root`, `influence.fingerprint`)."""
    return InfluenceRun.read(influence_run_path_for(Path(json_path)))


def read_matrix(json_path: str | Path) -> tuple[InfluenceData, int] | None:
    """The `.npz` beside an influence file and the nested JSON size it was written with (None: no npz).
    One read serves both the run checks (`influence.fingerprint`) and `load_influence`."""
    npz_path = matrix_path_for(Path(json_path))
    return read_npz(npz_path) if npz_path.is_file() else None


def load_influence(
    json_path: str | Path,
    known_ids: Iterable[str] | None = None,
    sample_records: Mapping[str, Mapping[str, Any]] | None = None,
    matrix: tuple[InfluenceData, int] | None = None,
    run: InfluenceRun | None = None,
) -> InfluenceData:
    """Load an influence file: the npz beside it when present and matching, else the nested JSON.

    `known_ids` (default: the keys of `sample_records`) help split legacy pair ids.
    `sample_records` (the sample metadata) supply recording self-influence
    (`constants.K_SELF_INFLUENCE`) when the files have none. Errors: FileNotFoundError when
    neither file exists; ValueError (one line, naming the file) when a file is not JSON /
    not a readable matrix, or has no pairs. `matrix` (`read_matrix`) and `run` (`read_run_info`):
    what the caller already read of the files.
    """
    json_path = Path(json_path)
    npz_path = matrix_path_for(json_path)
    if known_ids is None and sample_records is not None:
        known_ids = sample_records.keys()
    known = set(known_ids) if known_ids is not None else None
    if json_path.is_dir():
        raise IsADirectoryError(f"influence file {json_path} is a folder")
    data: InfluenceData | None = None
    if matrix is not None or npz_path.is_file():
        npz_data, json_bytes = matrix if matrix is not None else read_npz(npz_path)
        if json_path.is_file() and json_bytes >= 0 and json_path.stat().st_size != json_bytes:
            log.warning("the matrix %s was not written with %s (sizes differ); reading the JSON instead", npz_path, json_path)
        else:
            data = npz_data
            log.debug("read %s", npz_path)
    if data is None:
        if not json_path.is_file():
            raise FileNotFoundError(f"influence file not found: {json_path}")
        info = read_run_info(json_path) if run is None else run
        angles = {sid: float(r[K_ANGLE]) for sid, r in (sample_records or {}).items()
                  if isinstance(r, Mapping) and isinstance(r.get(K_ANGLE), (int, float))}
        data = parse_nested(json_path, known, standardised=info.scale == SCALE, angles_by_id=angles)
        data.info = info
        log.info("read %s (nested JSON, no matrix beside it)", json_path)
    if len(data.train_pairs) == 0 or len(data.val_pairs) == 0:
        raise ValueError(f"influence file {json_path} holds no scores ({len(data.train_pairs)} training pairs x "
                         f"{len(data.val_pairs)} validation pairs)")
    if data.rec_self_influence is None and sample_records is not None:
        values = [sample_records.get(sid, {}).get(K_SELF_INFLUENCE) for sid in data.recording_ids]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            data.rec_self_influence = np.asarray(values, dtype=np.float64)
        elif any(v is not None for v in values):
            log.warning("the sample metadata has '%s' for only some training recordings; not used", K_SELF_INFLUENCE)
    return data


def recorded_data_root(influence_path: str | Path, run: InfluenceRun | None = None) -> Path | None:
    """The data root compute_tracin_influence.py recorded in the run file beside an influence file
    (`constants.influence_run_path_for`; `run`: its contents, already read); None when there is no
    run file or it names none (older files)."""
    root = (read_run_info(influence_path) if run is None else run).data_root
    return Path(root) if root else None
