"""Reading and writing TracIn influence files.

Two files, side by side (see docs/design.md):

- `{material}_{frequency}_influence_metadata.json`, the nested public shape older tools
  wrote: `{"<id_a>_<id_b>": {"tracin_influence_<val id_a>_<val id_b>": score, ...}, ...}`;
- `{material}_{frequency}_influence_matrix.npz` (`constants.matrix_path_for`), the fast
  path: the dense matrix with structured id lists, so nothing is ever recovered by
  splitting a pair id. Arrays: `train_a, train_b` (P,), `val_a, val_b` (Q,) unicode;
  `influence` (P, Q) float64; optional `train_pair_self_influence` (P,), `recording_ids`
  (R,), `recording_influence` (R, Q), `recording_self_influence` (R,); `info_json` (the
  run configuration as a JSON string), `format_version`, and `json_bytes`, the size of the
  JSON written with it (-1 when none was).

`load_influence` uses the `.npz` when it is there, unless the JSON beside it is not the one
written with it (its size differs: another tool rewrote it, or a write was interrupted):
then it warns and parses the JSON, the file the user named. Without a matrix it parses the
JSON and splits each pair id into two sample ids with `split_pair_id`.

A third file beside them, `{material}_{frequency}_influence_run.json`, records how the
scores were made: the configuration, the data root used, the checkpoints and learning
rates, the summary. `recorded_data_root` reads the data root back for the next step.
"""
from __future__ import annotations

import json
import logging
import math
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from datasets.pairs import pair_id
from utils.atomic_io import read_json, write_with_atomic
from utils.constants import (
    INFLUENCE_KEY_PREFIX,
    K_SELF_INFLUENCE,
    SAMPLE_ID_RE,
    influence_run_path_for,
    matrix_path_for,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass
class InfluenceData:
    """TracIn scores of P training pairs on Q validation pairs, with structured ids.

    influence (P, Q) float64: negative = harmful. train_pair_self_influence (P,);
    recording_influence (R, Q): the sum over each recording's training pairs;
    recording_self_influence (R,): self-influence of removing the whole recording.
    """

    train_pairs: list[tuple[str, str]]
    val_pairs: list[tuple[str, str]]
    influence: np.ndarray
    train_pair_self_influence: np.ndarray | None = None
    recording_ids: list[str] | None = None
    recording_influence: np.ndarray | None = None
    recording_self_influence: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.train_pairs = [(str(a), str(b)) for a, b in self.train_pairs]
        self.val_pairs = [(str(a), str(b)) for a, b in self.val_pairs]
        P, Q = len(self.train_pairs), len(self.val_pairs)
        influence = np.asarray(self.influence, dtype=np.float64)
        if influence.size == 0 and P * Q == 0:
            influence = influence.reshape(P, Q)
        if influence.shape != (P, Q):
            raise ValueError(f"influence has shape {influence.shape}, expected {(P, Q)} (training x validation pairs)")
        self.influence = influence
        if self.train_pair_self_influence is not None:
            self.train_pair_self_influence = _vector(self.train_pair_self_influence, P, "train_pair_self_influence")
        if self.recording_ids is not None:
            self.recording_ids = [str(s) for s in self.recording_ids]
            R = len(self.recording_ids)
            if self.recording_influence is not None:
                self.recording_influence = np.asarray(self.recording_influence, dtype=np.float64)
                if self.recording_influence.shape != (R, Q):
                    raise ValueError(
                        f"recording_influence has shape {self.recording_influence.shape}, expected {(R, Q)}"
                    )
            if self.recording_self_influence is not None:
                self.recording_self_influence = _vector(self.recording_self_influence, R, "recording_self_influence")
        elif self.recording_influence is not None or self.recording_self_influence is not None:
            raise ValueError("recording_influence / recording_self_influence need recording_ids")

    @property
    def train_pair_ids(self) -> list[str]:
        return [pair_id(a, b) for a, b in self.train_pairs]

    @property
    def val_pair_ids(self) -> list[str]:
        return [pair_id(a, b) for a, b in self.val_pairs]

    def ensure_recording_influence(self) -> None:
        """Fill `recording_ids` / `recording_influence` by summing pair rows when they are missing."""
        if self.recording_influence is not None:
            return
        ids, rec = sum_pairs_by_recording(self.train_pairs, self.influence)
        if self.recording_ids is not None and self.recording_self_influence is not None:
            by_id = dict(zip(self.recording_ids, self.recording_self_influence.tolist()))
            self.recording_self_influence = np.asarray([by_id.get(s, np.nan) for s in ids], dtype=np.float64)
        self.recording_ids = ids
        self.recording_influence = rec


def sum_pairs_by_recording(
    train_pairs: Sequence[tuple[str, str]], influence: np.ndarray
) -> tuple[list[str], np.ndarray]:
    """Per-recording influence: `(recording_ids, R)`, R (R, Q) = sum of the rows (P, Q) of its pairs.

    Removing a recording removes every pair it is in. `recording_ids` are the sorted
    distinct ids of `train_pairs`.
    """
    influence = np.asarray(influence, dtype=np.float64)
    ids = sorted({sid for pair in train_pairs for sid in pair})
    index = {sid: i for i, sid in enumerate(ids)}
    out = np.zeros((len(ids), influence.shape[1]), dtype=np.float64)
    if len(train_pairs):
        ia = np.fromiter((index[a] for a, _ in train_pairs), dtype=np.int64, count=len(train_pairs))
        ib = np.fromiter((index[b] for _, b in train_pairs), dtype=np.int64, count=len(train_pairs))
        np.add.at(out, ia, influence)
        np.add.at(out, ib, influence)
    return ids, out


def _vector(values: Any, n: int, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.shape != (n,):
        raise ValueError(f"{name} has {v.size} entries, expected {n}")
    return v


# --------------------------------------------------------------------------- pair ids


def _splits(pair_id: str, valid) -> list[tuple[str, str]]:
    return [
        (pair_id[:i], pair_id[i + 1 :])
        for i, ch in enumerate(pair_id)
        if ch == "_" and valid(pair_id[:i]) and valid(pair_id[i + 1 :])
    ]


def split_pair_id(pair_id: str, known_ids: set[str] | None = None) -> tuple[str, str]:
    """Split `{id_a}_{id_b}` into its two sample ids, never on '_' alone.

    Every '_' position is tried. With `known_ids`, a split whose halves are both known ids
    is taken; when no split has two known halves (or no ids are given) each half must
    match `constants.SAMPLE_ID_RE`. Exactly one split must fit: none, or more than one, is
    a ValueError naming the pair id.
    """
    if known_ids:
        found = _splits(pair_id, known_ids.__contains__)
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ValueError(
                f"pair id {pair_id!r} is ambiguous: it splits into known sample ids in {len(found)} ways "
                f"({'; '.join(' + '.join(f) for f in found)})"
            )
    found = _splits(pair_id, lambda s: SAMPLE_ID_RE.match(s) is not None)
    if len(found) == 1:
        return found[0]
    if not found:
        raise ValueError(
            f"cannot split pair id {pair_id!r} into two sample ids "
            "({material}_deg{angle}_{frequency}_{take}, or ids in the sample metadata)"
        )
    raise ValueError(
        f"pair id {pair_id!r} is ambiguous: it splits into two sample ids in {len(found)} ways "
        f"({'; '.join(' + '.join(f) for f in found)}); put the sample metadata beside the influence file"
    )


# --------------------------------------------------------------------------- writing


def _json_float(x: float) -> str:
    if not math.isfinite(x):
        raise ValueError(f"influence scores must be finite, got {x}")
    return repr(x)


def _write_nested_json(handle, data: InfluenceData) -> None:
    """Stream `{train pair id: {prefix + val pair id: score}}`, one training pair per line."""
    val_keys = [json.dumps(INFLUENCE_KEY_PREFIX + k, ensure_ascii=False) for k in data.val_pair_ids]
    handle.write("{")
    for p, key in enumerate(data.train_pair_ids):
        row = data.influence[p].tolist()
        body = ", ".join(f"{k}: {_json_float(v)}" for k, v in zip(val_keys, row))
        handle.write(("\n  " if p == 0 else ",\n  ") + json.dumps(key, ensure_ascii=False) + ": {" + body + "}")
    handle.write("\n}\n")


def save_influence(json_path: str | Path, data: InfluenceData, write_json: bool = True) -> None:
    """Write the dense `.npz` beside `json_path` and (unless `write_json` is False) the nested JSON.

    Both writes are atomic (temp file + rename). The JSON is streamed row by row, so memory
    stays bounded by one row of text; it is written first, and its size recorded in the npz.
    """
    json_path = Path(json_path)
    # By row blocks: the matrix may be memory-mapped and larger than memory.
    if not all(np.isfinite(data.influence[r : r + 4096]).all() for r in range(0, data.influence.shape[0], 4096)):
        raise ValueError("influence scores must be finite (found NaN or infinity)")
    json_bytes = -1
    if write_json:
        write_with_atomic(json_path, lambda h: _write_nested_json(h, data), binary=False)
        json_bytes = json_path.stat().st_size
    arrays: dict[str, np.ndarray] = {
        "format_version": np.asarray(FORMAT_VERSION, dtype=np.int64),
        "json_bytes": np.asarray(json_bytes, dtype=np.int64),
        "train_a": np.asarray([a for a, _ in data.train_pairs], dtype=np.str_),
        "train_b": np.asarray([b for _, b in data.train_pairs], dtype=np.str_),
        "val_a": np.asarray([a for a, _ in data.val_pairs], dtype=np.str_),
        "val_b": np.asarray([b for _, b in data.val_pairs], dtype=np.str_),
        "influence": np.asarray(data.influence, dtype=np.float64),
        "info_json": np.asarray(json.dumps(data.info, ensure_ascii=False, allow_nan=False), dtype=np.str_),
    }
    if data.train_pair_self_influence is not None:
        arrays["train_pair_self_influence"] = data.train_pair_self_influence
    if data.recording_ids is not None:
        arrays["recording_ids"] = np.asarray(data.recording_ids, dtype=np.str_)
        if data.recording_influence is not None:
            arrays["recording_influence"] = data.recording_influence
        if data.recording_self_influence is not None:
            arrays["recording_self_influence"] = data.recording_self_influence
    write_with_atomic(matrix_path_for(json_path), lambda h: np.savez(h, **arrays), binary=True)
    log.debug("wrote %s (%d x %d)%s", matrix_path_for(json_path), *data.influence.shape,
              f" and {json_path}" if write_json else "")


# --------------------------------------------------------------------------- reading


def _load_npz(path: Path) -> tuple[InfluenceData, int]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:  # a cut-off or damaged file
        raise ValueError(f"influence matrix {path} is unreadable ({type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}):"
                         " rerun compute_tracin_influence.py, or delete it to read the JSON beside it") from None
    missing = [k for k in ("train_a", "train_b", "val_a", "val_b", "influence") if k not in arrays]
    if missing:
        raise ValueError(f"influence matrix {path} is unreadable: it lacks {', '.join(missing)}")
    try:
        info = json.loads(str(arrays["info_json"])) if "info_json" in arrays else {}
        rec_ids = arrays.get("recording_ids")
        data = InfluenceData(
            train_pairs=list(zip(arrays["train_a"].tolist(), arrays["train_b"].tolist())),
            val_pairs=list(zip(arrays["val_a"].tolist(), arrays["val_b"].tolist())),
            influence=arrays["influence"],
            train_pair_self_influence=arrays.get("train_pair_self_influence"),
            recording_ids=None if rec_ids is None else rec_ids.tolist(),
            recording_influence=arrays.get("recording_influence"),
            recording_self_influence=arrays.get("recording_self_influence"),
            info=info,
        )
    except (ValueError, TypeError) as exc:
        raise ValueError(f"influence matrix {path} is inconsistent: {exc}") from None
    json_bytes = int(arrays["json_bytes"]) if "json_bytes" in arrays else -1
    return data, json_bytes


def _parse_nested(path: Path, known_ids: set[str] | None) -> InfluenceData:
    raw = read_json(path, "influence file")
    if not isinstance(raw, dict):
        raise ValueError(f"influence file {path} must be a JSON object of training pair id -> scores")
    train_pairs: list[tuple[str, str]] = []
    rows: list[dict[str, float]] = []
    val_index: dict[str, int] = {}
    val_pairs: list[tuple[str, str]] = []
    ignored = 0
    for key, entry in raw.items():
        if not isinstance(entry, dict):
            raise ValueError(f"influence file {path}: entry {key!r} is not an object of validation scores")
        scores = {k[len(INFLUENCE_KEY_PREFIX):]: v for k, v in entry.items() if k.startswith(INFLUENCE_KEY_PREFIX)}
        ignored += len(entry) - len(scores)
        if not scores:
            log.warning("influence file %s: entry %r has no '%s...' scores; skipped", path, key, INFLUENCE_KEY_PREFIX)
            continue
        for vkey, value in scores.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"influence file {path}: score {key!r} / {vkey!r} is not a finite number: {value!r}")
            if vkey not in val_index:
                val_index[vkey] = len(val_pairs)
                val_pairs.append(split_pair_id(vkey, known_ids))
        train_pairs.append(split_pair_id(key, known_ids))
        rows.append(scores)
    if ignored:
        log.warning("influence file %s: ignored %d key(s) without the '%s' prefix", path, ignored, INFLUENCE_KEY_PREFIX)
    influence = np.zeros((len(rows), len(val_pairs)), dtype=np.float64)
    missing = 0
    for p, scores in enumerate(rows):
        missing += len(val_pairs) - len(scores)
        for vkey, value in scores.items():
            influence[p, val_index[vkey]] = value
    if missing:
        log.warning("influence file %s: %d missing score(s) read as 0", path, missing)
    return InfluenceData(train_pairs, val_pairs, influence)


def load_influence(
    json_path: str | Path,
    known_ids: Iterable[str] | None = None,
    sample_records: Mapping[str, Mapping[str, Any]] | None = None,
) -> InfluenceData:
    """Load an influence file: the `.npz` beside it when present and matching, else the nested JSON.

    `known_ids` (default: the keys of `sample_records`) help split legacy pair ids.
    `sample_records` (the sample metadata) supply recording self-influence
    (`constants.K_SELF_INFLUENCE`) when the file has none. The result always has
    `recording_ids` and `recording_influence` (derived by summing pair rows when missing).
    Errors: FileNotFoundError when neither file exists; ValueError (one line, naming the
    file) when a file is not JSON / not a readable matrix, or has no pairs.
    """
    json_path = Path(json_path)
    npz_path = matrix_path_for(json_path)
    if known_ids is None and sample_records is not None:
        known_ids = sample_records.keys()
    known = set(known_ids) if known_ids is not None else None
    if json_path.is_dir():
        raise IsADirectoryError(f"influence file {json_path} is a folder")
    data: InfluenceData | None = None
    if npz_path.is_file():
        npz_data, json_bytes = _load_npz(npz_path)
        if json_path.is_file() and json_bytes >= 0 and json_path.stat().st_size != json_bytes:
            log.warning(
                "the matrix %s was not written with %s (sizes differ); reading the JSON instead", npz_path, json_path
            )
        else:
            data = npz_data
            log.debug("read %s", npz_path)
    if data is None:
        if not json_path.is_file():
            raise FileNotFoundError(f"influence file not found: {json_path}")
        data = _parse_nested(json_path, known)
        log.info("read %s (nested JSON, no matrix beside it)", json_path)
    if not data.train_pairs or not data.val_pairs:
        raise ValueError(
            f"influence file {json_path} holds no scores ({len(data.train_pairs)} training pairs x "
            f"{len(data.val_pairs)} validation pairs)"
        )
    if not np.all(np.isfinite(data.influence)):
        raise ValueError(f"influence file {json_path} contains non-finite scores")
    data.ensure_recording_influence()
    if data.recording_self_influence is None and sample_records is not None:
        values = [sample_records.get(sid, {}).get(K_SELF_INFLUENCE) for sid in data.recording_ids]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            data.recording_self_influence = np.asarray(values, dtype=np.float64)
        elif any(v is not None for v in values):
            log.warning("the sample metadata has '%s' for only some training recordings; not used", K_SELF_INFLUENCE)
    return data


def recorded_data_root(influence_path: str | Path) -> Path | None:
    """The data root compute_tracin_influence.py recorded in the run file beside an influence file
    (`constants.influence_run_path_for`); None when there is no run file or it names none (older files)."""
    run_file = influence_run_path_for(influence_path)
    if not run_file.is_file():
        return None
    info = read_json(run_file, "influence run file")
    root = info.get("data_root") if isinstance(info, dict) else None
    return Path(root) if isinstance(root, str) and root else None

