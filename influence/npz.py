"""The influence matrix, `{m}_{f}_influence_matrix.npz` (`constants.matrix_path_for`): what generate reads.

Format 2 holds the arrays of `influence.data.InfluenceData` (`STORED_DTYPES`, and those of
`OPTIONAL` a run has), `info_json` (the run file's contents), `format_version` and
`json_bytes` (the size of the nested JSON written with it, -1 for none). Format 1 (a dense raw
matrix with string ids) is still read, and standardised on reading.
"""
from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from influence.data import InfluenceData
from influence.records import InfluenceRun
from influence.summary import summarize_dense
from utils.atomic_io import write_with_atomic

FORMAT_VERSION = 2
# The arrays every file holds, with the dtype each is stored in (indices as int32, the kept z as float32).
STORED_DTYPES = {
    "sample_ids": np.str_, "angles": np.float64, "train_pairs": np.int32, "val_pairs": np.int32,
    "recordings": np.int32, "pair_low_z": np.float32, "pair_low_idx": np.int32, "pair_mean_z": np.float64,
    "rec_low_z": np.float32, "rec_low_idx": np.int32, "rec_mean_z": np.float64, "rec_total": np.float64,
}
OPTIONAL = ("rec_self_influence", "pair_self_influence", "checkpoint_scores", "checkpoint_epochs", "influence", "influence_z",
            "profile_levels", "profile_floors")
_UNREADABLE = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


def write_npz(path: Path, data: InfluenceData, json_bytes: int) -> None:
    """Write `data` (and `data.info`) atomically; `json_bytes`: the nested JSON written with it (-1: none)."""
    arrays: dict[str, Any] = {
        "format_version": np.asarray(FORMAT_VERSION, dtype=np.int64),
        "json_bytes": np.asarray(json_bytes, dtype=np.int64),
        "info_json": np.asarray(json.dumps(data.info.to_dict(), ensure_ascii=False, allow_nan=False), dtype=np.str_),
    }
    arrays |= {name: np.asarray(getattr(data, name), dtype=dtype) for name, dtype in STORED_DTYPES.items()}
    for name in OPTIONAL:
        value = getattr(data, name)
        if value is not None:
            arrays[name] = value
    write_with_atomic(path, lambda h: np.savez(h, **arrays), binary=True)


def damaged(path: Path, exc: BaseException) -> ValueError:
    """The one-line error of a matrix that cannot be read."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return ValueError(f"influence matrix {path} is unreadable ({type(exc).__name__}: {first}): it was cut short or"
                      " damaged; rerun compute_tracin_influence.py, or delete it to read the JSON beside it")


def read_header(path: Path) -> tuple[InfluenceRun, int]:
    """The `info_json` and `json_bytes` of a matrix, without reading its arrays."""
    try:
        with np.load(path, allow_pickle=False) as z:
            info = json.loads(str(z["info_json"])) if "info_json" in z.files else {}
            json_bytes = int(z["json_bytes"]) if "json_bytes" in z.files else -1
    except _UNREADABLE as exc:
        raise damaged(path, exc) from None
    return InfluenceRun.from_dict(info), json_bytes


def read_npz(path: Path) -> tuple[InfluenceData, int]:
    """(the matrix's contents, `json_bytes`); a damaged or inconsistent file is one ValueError naming it."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
    except _UNREADABLE as exc:
        raise damaged(path, exc) from None
    info = InfluenceRun.from_dict(json.loads(str(arrays["info_json"])) if "info_json" in arrays else {})
    json_bytes = int(arrays["json_bytes"]) if "json_bytes" in arrays else -1
    version = int(arrays.get("format_version", 1))
    try:
        if version == 1:
            return _from_v1(arrays, info), json_bytes
        fields = {k: arrays[k] for k in InfluenceData.__dataclass_fields__ if k in arrays and k not in ("sample_ids", "info")}
        data = InfluenceData(sample_ids=arrays["sample_ids"].tolist(), info=info, **fields)
    except KeyError as exc:
        raise ValueError(f"influence matrix {path} is unreadable: it lacks {exc.args[0]}") from None
    except (ValueError, TypeError) as exc:
        raise ValueError(f"influence matrix {path} is inconsistent: {exc}") from None
    return data, json_bytes


def _from_v1(arrays: Mapping[str, np.ndarray], info: InfluenceRun) -> InfluenceData:
    """Format 1: a dense raw matrix with string ids; standardised here."""
    train = list(zip(arrays["train_a"].tolist(), arrays["train_b"].tolist()))
    val = list(zip(arrays["val_a"].tolist(), arrays["val_b"].tolist()))
    rec_ids = arrays.get("recording_ids")
    self_infl = arrays.get("recording_self_influence")
    by_id = None if rec_ids is None or self_infl is None else dict(zip(rec_ids.tolist(), self_infl.tolist()))
    return summarize_dense(train, val, arrays["influence"], info, by_id, arrays.get("train_pair_self_influence"))
