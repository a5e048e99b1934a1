"""The nested JSON, `{m}_{f}_influence_metadata.json`: the public shape older tools wrote,

    {"<id_a>_<id_b>": {"tracin_influence_<val id_a>_<val id_b>": score, ...}, ...}

holding standardised scores (the scale the tutorial's `--threshold -3.0` is on): every score
when the dense matrix is there, else only the training pairs that are harmful under the
tutorial's rule (`influence.harm`), with their scores below its threshold. Written as a stream,
one training pair per line; read back (a file without the matrix beside it) by splitting pair
ids with `influence.pair_ids.split_pair_id`, never on '_' alone.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from influence.data import InfluenceData
from influence.config import DEFAULT_MIN_OCCURRENCES, DEFAULT_THRESHOLD
from influence.pair_ids import split_pair_id
from influence.records import InfluenceRun
from influence.summary import summarize_dense
from utils.atomic_io import read_json, write_with_atomic
from utils.constants import INFLUENCE_KEY_PREFIX

log = logging.getLogger(__name__)

NESTED_FULL = "every score"
NESTED_HARMFUL = "harmful pairs only"
Cells = Iterable[tuple[int, list[tuple[int, float]]]]
"""(training pair, [(validation pair, score)]) per training pair written."""


def _json_float(x: float) -> str:
    if not math.isfinite(x):
        raise ValueError(f"influence scores must be finite, got {x}")
    return repr(float(x))


def _write_nested_json(handle, data: InfluenceData, rows: Cells) -> None:
    """Stream `{train pair id: {prefix + val pair id: z}}`, one training pair per line."""
    val_keys = [json.dumps(INFLUENCE_KEY_PREFIX + k, ensure_ascii=False) for k in data.val_pair_ids]
    handle.write("{")
    for n, (p, cells) in enumerate(rows):
        key = data.pair_ids(data.train_pairs[p : p + 1])[0]
        body = ", ".join(f"{val_keys[q]}: {_json_float(v)}" for q, v in cells)
        handle.write(("\n  " if n == 0 else ",\n  ") + json.dumps(key, ensure_ascii=False) + ": {" + body + "}")
    handle.write("\n}\n")


def _every_cell(data: InfluenceData) -> Cells:
    Q = data.n_validation_pairs
    for p in range(len(data.train_pairs)):
        yield p, list(zip(range(Q), np.asarray(data.influence_z[p], dtype=np.float64).tolist()))


def write_nested_json(path: Path, data: InfluenceData, threshold: float = DEFAULT_THRESHOLD,
                      min_occurrences: int = DEFAULT_MIN_OCCURRENCES) -> str:
    """Write the nested JSON atomically: every standardised score when `data.influence_z` is there, else the
    harmful pairs under `threshold` / `min_occurrences`. Returns what it holds (`NESTED_FULL` or `NESTED_HARMFUL`)."""
    dense = data.influence_z is not None
    rows = _every_cell(data) if dense else data.pair_scores().harmful_cells(threshold, min_occurrences)
    write_with_atomic(path, lambda h: _write_nested_json(h, data, rows), binary=False)
    return NESTED_FULL if dense else NESTED_HARMFUL


def parse_nested(path: Path, known_ids: set[str] | None, standardised: bool,
                 angles_by_id: Mapping[str, float] | None = None) -> InfluenceData:
    """A nested JSON read as a dense (P, Q) matrix and summarised (`summary.summarize_dense`): standardised here,
    unless `standardised` (this toolkit wrote it). Missing scores read as 0; a malformed file is one ValueError."""
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
    return summarize_dense(train_pairs, val_pairs, matrix, InfluenceRun(), standardised=standardised,
                           angles_by_id=angles_by_id)

