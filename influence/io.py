"""Reading and writing TracIn influence files (formats in docs/design.md).

Beside each other in the metadata folder:

- `{m}_{f}_influence_matrix.npz` (`constants.matrix_path_for`), what generate reads:
  format 2 stores recordings by index (`sample_ids` (N,), `angles` (N,)), the pairs as
  index arrays (`train_pairs` (P, 2), `val_pairs` (Q, 2), `recordings` (R,): the training
  recordings), and the summaries of `influence.summary`: `pair_low_z`, `pair_low_idx` (P, k),
  `pair_mean_z` (P,), `rec_low_z`, `rec_low_idx` (R, k), `rec_mean_z`, `rec_total` (R,),
  optionally `rec_self_influence` (R,), `pair_self_influence` (P,), `checkpoint_scores`
  (C, R) with `checkpoint_epochs` (C,), `profile_levels` and `profile_floors` (N, H): each
  recording's harmonic profile (`datasets.harmonics.harmonic_profile`, what the `profile`
  criterion reads), and, when small or asked for, the dense raw TracIn
  `influence` (P, Q) and its standardised `influence_z` (P, Q). Also `info_json` (the run
  file's contents), `format_version` and `json_bytes` (the size of the nested JSON written
  with it, -1 for none). Format 1 (dense raw matrix, string ids) is still read.
- `{m}_{f}_influence_metadata.json`, the nested public shape older tools wrote:
  `{"<id_a>_<id_b>": {"tracin_influence_<val id_a>_<val id_b>": score, ...}, ...}`, holding
  the standardised scores (the scale the tutorial's `--threshold -3.0` is on). When the
  matrix is large it holds only the training pairs that are harmful under the default rule,
  with their scores below its threshold (`nested_json` in the run file says which).
- `{m}_{f}_influence_run.json`: how the scores were made (`recorded_data_root` reads the
  data root back for the next step).

`load_influence` prefers the npz; without one it parses the nested JSON (splitting pair
ids with `split_pair_id`, never on '_' alone) and standardises its scores itself
(`summary.summarize_dense`), unless the run file says they already are.
"""
from __future__ import annotations

import json
import logging
import math
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from datasets.pairs import pair_id
from datasets.sample_id import angle_of, is_sample_id
from utils.atomic_io import read_json, write_with_atomic
from influence.harm import DEFAULT_MIN_OCCURRENCES, DEFAULT_THRESHOLD, LowScores
from utils.constants import (
    INFLUENCE_KEY_PREFIX,
    K_ANGLE,
    K_SELF_INFLUENCE,
    influence_run_path_for,
    matrix_path_for,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
SCALE = "robust z among training items of the same angles, per validation pair (influence.standardize)"
NESTED_FULL = "every score"
NESTED_HARMFUL = "harmful pairs only"
# The arrays every file holds, with the dtype each is stored in (indices as int32, the kept z as float32).
STORED_DTYPES = {
    "sample_ids": np.str_, "angles": np.float64, "train_pairs": np.int32, "val_pairs": np.int32,
    "recordings": np.int32, "pair_low_z": np.float32, "pair_low_idx": np.int32, "pair_mean_z": np.float64,
    "rec_low_z": np.float32, "rec_low_idx": np.int32, "rec_mean_z": np.float64, "rec_total": np.float64,
}
OPTIONAL = ("rec_self_influence", "pair_self_influence", "checkpoint_scores", "checkpoint_epochs", "influence", "influence_z",
            "profile_levels", "profile_floors")


@dataclass
class InfluenceData:
    """One compute run's TracIn results, by index (see the module docstring for each array)."""

    sample_ids: list[str]
    angles: np.ndarray
    train_pairs: np.ndarray
    val_pairs: np.ndarray
    recordings: np.ndarray
    pair_low_z: np.ndarray
    pair_low_idx: np.ndarray
    pair_mean_z: np.ndarray
    rec_low_z: np.ndarray
    rec_low_idx: np.ndarray
    rec_mean_z: np.ndarray
    rec_total: np.ndarray
    rec_self_influence: np.ndarray | None = None
    pair_self_influence: np.ndarray | None = None
    checkpoint_scores: np.ndarray | None = None
    checkpoint_epochs: np.ndarray | None = None
    influence: np.ndarray | None = None
    influence_z: np.ndarray | None = None
    profile_levels: np.ndarray | None = None  # (N, H) dB relative to the fundamental
    profile_floors: np.ndarray | None = None  # (N, H) each harmonic's noise floor, same scale
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sample_ids = [str(s) for s in self.sample_ids]
        N, P, Q, R = len(self.sample_ids), len(self.train_pairs), len(self.val_pairs), len(self.recordings)
        shapes = {"angles": (N,), "train_pairs": (P, 2), "val_pairs": (Q, 2), "pair_mean_z": (P,), "rec_mean_z": (R,),
                  "rec_total": (R,), "rec_self_influence": (R,), "pair_self_influence": (P,), "influence": (P, Q),
                  "influence_z": (P, Q)}
        for name, shape in shapes.items():
            value = getattr(self, name)
            if value is not None and tuple(np.shape(value)) != shape:
                raise ValueError(f"{name} has shape {tuple(np.shape(value))}, expected {shape}")
        for name, rows in (("pair_low_z", P), ("pair_low_idx", P), ("rec_low_z", R), ("rec_low_idx", R)):
            if np.shape(getattr(self, name))[0] != rows:
                raise ValueError(f"{name} has {np.shape(getattr(self, name))[0]} rows, expected {rows}")
        for name in ("profile_levels", "profile_floors"):
            value = getattr(self, name)
            if value is not None and (np.ndim(value) != 2 or np.shape(value)[0] != N):
                raise ValueError(f"{name} has shape {tuple(np.shape(value))}, expected ({N}, harmonics)")
        if self.checkpoint_scores is not None and np.shape(self.checkpoint_scores)[1:] != (R,):
            raise ValueError(f"checkpoint_scores has shape {np.shape(self.checkpoint_scores)}, expected (C, {R})")
        for name in ("train_pairs", "val_pairs", "recordings"):
            idx = np.asarray(getattr(self, name))
            if idx.size and (idx.min() < 0 or idx.max() >= N):
                raise ValueError(f"{name} indexes recordings outside the {N} sample ids")

    @property
    def recording_ids(self) -> list[str]:
        return [self.sample_ids[i] for i in self.recordings]

    @property
    def n_validation_pairs(self) -> int:
        return len(self.val_pairs)

    def pair_ids(self, pairs: np.ndarray) -> list[str]:
        return [pair_id(self.sample_ids[a], self.sample_ids[b]) for a, b in np.asarray(pairs).tolist()]

    @property
    def val_pair_ids(self) -> list[str]:
        return self.pair_ids(self.val_pairs)

    @property
    def columns_scored(self) -> int:
        """Validation pairs the pair scores count on: all, or the seeded sample the run file names."""
        scored = self.info.get("validation_pairs_scored", {}) if isinstance(self.info, dict) else {}
        return int(scored.get("scored", self.n_validation_pairs)) if isinstance(scored, dict) else self.n_validation_pairs

    def pair_scores(self) -> LowScores:
        """Each training pair's kept lowest scores, what the harmful-pair rule (`influence.harm`) reads."""
        return LowScores(self.pair_low_z, self.pair_low_idx, self.pair_mean_z, self.columns_scored)

    def recording_scores(self) -> LowScores:
        """Each training recording's kept lowest scores over its own influence (every validation pair)."""
        return LowScores(self.rec_low_z, self.rec_low_idx, self.rec_mean_z, self.n_validation_pairs)

    def training_pairs_by_recording(self) -> np.ndarray:
        """(P, 2): each training pair as positions in `recordings` (what the rules index)."""
        position = np.full(len(self.sample_ids), -1, dtype=np.int64)
        position[self.recordings] = np.arange(len(self.recordings))
        out = position[self.train_pairs]
        if (out < 0).any():
            raise ValueError("a training pair uses a recording that is not among the training recordings")
        return out


# --------------------------------------------------------------------------- pair ids


def _splits(pair_key: str, valid) -> list[tuple[str, str]]:
    return [
        (pair_key[:i], pair_key[i + 1 :])
        for i, ch in enumerate(pair_key)
        if ch == "_" and valid(pair_key[:i]) and valid(pair_key[i + 1 :])
    ]


def split_pair_id(pair_key: str, known_ids: set[str] | None = None) -> tuple[str, str]:
    """Split `{id_a}_{id_b}` into its two sample ids, never on '_' alone.

    Every '_' position is tried. With `known_ids`, a split whose halves are both known ids
    is taken; when no split has two known halves (or no ids are given) each half must
    be a sample id (`datasets.sample_id`). Exactly one split must fit: none, or more than one, is
    a ValueError naming the pair id.
    """
    if known_ids:
        found = _splits(pair_key, known_ids.__contains__)
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ValueError(
                f"pair id {pair_key!r} is ambiguous: it splits into known sample ids in {len(found)} ways "
                f"({'; '.join(' + '.join(f) for f in found)})"
            )
    found = _splits(pair_key, is_sample_id)
    if len(found) == 1:
        return found[0]
    if not found:
        raise ValueError(
            f"cannot split pair id {pair_key!r} into two sample ids "
            "({material}_deg{angle}_{frequency}_{take}, or ids in the sample metadata)"
        )
    raise ValueError(
        f"pair id {pair_key!r} is ambiguous: it splits into two sample ids in {len(found)} ways "
        f"({'; '.join(' + '.join(f) for f in found)}); put the sample metadata beside the influence file"
    )


# --------------------------------------------------------------------------- writing


def _json_float(x: float) -> str:
    if not math.isfinite(x):
        raise ValueError(f"influence scores must be finite, got {x}")
    return repr(float(x))


def _write_nested_json(handle, data: InfluenceData, rows: Iterable[tuple[int, list[tuple[int, float]]]]) -> None:
    """Stream `{train pair id: {prefix + val pair id: z}}`, one training pair per line."""
    val_keys = [json.dumps(INFLUENCE_KEY_PREFIX + k, ensure_ascii=False) for k in data.val_pair_ids]
    handle.write("{")
    for n, (p, cells) in enumerate(rows):
        key = data.pair_ids(data.train_pairs[p : p + 1])[0]
        body = ", ".join(f"{val_keys[q]}: {_json_float(v)}" for q, v in cells)
        handle.write(("\n  " if n == 0 else ",\n  ") + json.dumps(key, ensure_ascii=False) + ": {" + body + "}")
    handle.write("\n}\n")


def _every_cell(data: InfluenceData) -> Iterable[tuple[int, list[tuple[int, float]]]]:
    Q = data.n_validation_pairs
    for p in range(len(data.train_pairs)):
        yield p, list(zip(range(Q), np.asarray(data.influence_z[p], dtype=np.float64).tolist()))


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
        rows = _every_cell(data) if dense else data.pair_scores().harmful_cells(threshold, min_occurrences)
        write_with_atomic(json_path, lambda h: _write_nested_json(h, data, rows), binary=False)
        json_bytes, nested = json_path.stat().st_size, NESTED_FULL if dense else NESTED_HARMFUL
    arrays: dict[str, Any] = {
        "format_version": np.asarray(FORMAT_VERSION, dtype=np.int64),
        "json_bytes": np.asarray(json_bytes, dtype=np.int64),
        "info_json": np.asarray(json.dumps(data.info, ensure_ascii=False, allow_nan=False), dtype=np.str_),
    }
    arrays |= {name: np.asarray(getattr(data, name), dtype=dtype) for name, dtype in STORED_DTYPES.items()}
    for name in OPTIONAL:
        value = getattr(data, name)
        if value is not None:
            arrays[name] = value
    write_with_atomic(matrix_path_for(json_path), lambda h: np.savez(h, **arrays), binary=True)
    log.debug("wrote %s%s", matrix_path_for(json_path), f" and {json_path} ({nested})" if nested else "")
    return nested


# --------------------------------------------------------------------------- reading


def _damaged(path: Path, exc: BaseException) -> ValueError:
    first = (str(exc).strip().splitlines() or [""])[0]
    return ValueError(f"influence matrix {path} is unreadable ({type(exc).__name__}: {first}): it was cut short or"
                      " damaged; rerun compute_tracin_influence.py, or delete it to read the JSON beside it")


def _load_npz(path: Path) -> tuple[InfluenceData, int]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise _damaged(path, exc) from None
    info = json.loads(str(arrays["info_json"])) if "info_json" in arrays else {}
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


def _from_v1(arrays: Mapping[str, np.ndarray], info: dict) -> InfluenceData:
    """Format 1: a dense raw matrix with string ids; standardised here."""
    from influence.summary import summarize_dense

    train = list(zip(arrays["train_a"].tolist(), arrays["train_b"].tolist()))
    val = list(zip(arrays["val_a"].tolist(), arrays["val_b"].tolist()))
    rec_ids = arrays.get("recording_ids")
    self_infl = arrays.get("recording_self_influence")
    by_id = None if rec_ids is None or self_infl is None else dict(zip(rec_ids.tolist(), self_infl.tolist()))
    return summarize_dense(train, val, arrays["influence"], info, by_id, arrays.get("train_pair_self_influence"))


def _parse_nested(path: Path, known_ids: set[str] | None, standardised: bool,
                  angles_by_id: Mapping[str, float] | None = None) -> InfluenceData:
    from influence.summary import summarize_dense

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
    if not rows or not val_pairs:
        raise ValueError(f"influence file {path} holds no scores ({len(rows)} training pairs x {len(val_pairs)} "
                         "validation pairs)")
    matrix = np.zeros((len(rows), len(val_pairs)), dtype=np.float64)
    missing = 0
    for p, scores in enumerate(rows):
        missing += len(val_pairs) - len(scores)
        for vkey, value in scores.items():
            matrix[p, val_index[vkey]] = value
    if missing:
        log.warning("influence file %s: %d missing score(s) read as 0", path, missing)
    return summarize_dense(train_pairs, val_pairs, matrix, {}, standardised=standardised, angles_by_id=angles_by_id)


def _run_info(json_path: Path) -> dict:
    run_file = influence_run_path_for(json_path)
    info = read_json(run_file, "influence run file") if run_file.is_file() else {}
    return info if isinstance(info, dict) else {}


def load_influence(
    json_path: str | Path,
    known_ids: Iterable[str] | None = None,
    sample_records: Mapping[str, Mapping[str, Any]] | None = None,
) -> InfluenceData:
    """Load an influence file: the npz beside it when present and matching, else the nested JSON.

    `known_ids` (default: the keys of `sample_records`) help split legacy pair ids.
    `sample_records` (the sample metadata) supply recording self-influence
    (`constants.K_SELF_INFLUENCE`) when the files have none. Errors: FileNotFoundError when
    neither file exists; ValueError (one line, naming the file) when a file is not JSON /
    not a readable matrix, or has no pairs.
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
            log.warning("the matrix %s was not written with %s (sizes differ); reading the JSON instead", npz_path, json_path)
        else:
            data = npz_data
            log.debug("read %s", npz_path)
    if data is None:
        if not json_path.is_file():
            raise FileNotFoundError(f"influence file not found: {json_path}")
        info = _run_info(json_path)
        angles = {sid: float(r[K_ANGLE]) for sid, r in (sample_records or {}).items()
                  if isinstance(r, Mapping) and isinstance(r.get(K_ANGLE), (int, float))}
        data = _parse_nested(json_path, known, standardised=info.get("scale") == SCALE, angles_by_id=angles)
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


def recorded_data_root(influence_path: str | Path) -> Path | None:
    """The data root compute_tracin_influence.py recorded in the run file beside an influence file
    (`constants.influence_run_path_for`); None when there is no run file or it names none (older files)."""
    root = _run_info(Path(influence_path)).get("data_root")
    return Path(root) if isinstance(root, str) and root else None


def angles_of(sample_ids: Iterable[str]) -> np.ndarray:
    """The stored angle of each sample id (from the id itself)."""
    return np.asarray([angle_of(s) for s in sample_ids], dtype=np.float64)
