"""Run fingerprints: every output of one compute run carries the same short digest of its inputs.

The fingerprint (`run_fingerprint`, 16 hex digits of a sha256) covers every checkpoint used
(epoch, byte size, sha256 of the file), the run's split (sample ids per split) and excluded
ids, the recordings (sample id and sha256 of each WAV file's bytes), the loss TracIn
differentiated and the scoring settings. compute_tracin_influence.py writes it

- into the influence run file (`"fingerprint"`), with the checkpoint folder, the time, and the
  byte size and sha256 of the nested JSON (whose public shape has no room for it);
- into the `.npz` (its `info_json`);
- into every sample metadata record it sets (`constants.K_TRACIN_RUN`).

The parts are renamed into place together (`utils.staging`), the run file last, so only a
kill between two renames can leave parts of two runs; generate_tracin_exclusions.py then
refuses them (`check_influence_files`, `check_sample_metadata`) in one line naming both runs.
Files written before fingerprints existed carry none and are not checked.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from influence.npz import read_header
from influence.records import FileIdentity, InfluenceRun
from influence.run_inputs import LoadedCheckpoint
from utils.constants import K_TRACIN_RUN, influence_run_path_for, matrix_path_for
from utils.hashing import fingerprint

RERUN = "rerun compute_tracin_influence.py (the same flags) to write them again together"


def run_fingerprint(
    checkpoints: Sequence[LoadedCheckpoint],
    split: Mapping[str, Sequence[str]],
    excluded: Iterable[str],
    recordings: Mapping[str, str],
    loss: Mapping[str, Any],
) -> str:
    """The fingerprint of a compute run's inputs. `recordings`: sample id -> sha256 of its file."""
    return fingerprint({
        "checkpoints": [{"epoch": c.epoch, "bytes": c.size, "sha256": c.sha256} for c in checkpoints],
        "split": {name: sorted(ids) for name, ids in split.items()},
        "excluded": sorted(excluded),
        "recordings": sorted(recordings.items()),
        "loss": dict(loss),
    })


def describe_run(info: InfluenceRun, fp: str) -> str:
    """`run 3f2a... (checkpoints <folder>, computed <time>)`, with what `info` tells of it."""
    details = []
    if info.config is not None:
        details.append(f"checkpoints {info.config.checkpoint_dir}")
    if info.created:
        details.append(f"computed {info.created}")
    return f"run {fp}" + (f" ({', '.join(details)})" if details else "")


def check_influence_files(json_path: str | Path, run: InfluenceRun | None = None,
                          npz_header: tuple[InfluenceRun, int] | None = None) -> str | None:
    """Refuse, in one line naming both runs, an influence run file, matrix and nested JSON that
    do not come from one compute run. Returns their fingerprint (None: files without one).
    `run` (the run file's contents) and `npz_header` (the matrix's info and json_bytes): already read."""
    json_path = Path(json_path)
    run_path, npz_path = influence_run_path_for(json_path), matrix_path_for(json_path)
    run = InfluenceRun.read(run_path) if run is None else run
    parts = []
    if run.fingerprint:
        parts.append((f"the run file {run_path}", run.fingerprint, run))
    json_bytes = None
    if npz_header is not None or npz_path.is_file():
        npz_info, json_bytes = npz_header if npz_header is not None else read_header(npz_path)
        if npz_info.fingerprint:
            parts.append((f"the matrix {npz_path}", npz_info.fingerprint, npz_info))
    if not parts:
        return None
    label, fp, info = parts[0]
    for other_label, other_fp, other_info in parts[1:]:
        if other_fp != fp:
            raise ValueError(f"{other_label} is from {describe_run(other_info, other_fp)}, but {label} is from"
                             f" {describe_run(info, fp)}: {RERUN}")
    json_read = json_path.is_file() and (json_bytes is None or (json_bytes >= 0 and json_path.stat().st_size != json_bytes))
    if json_read and run.fingerprint:
        written = run.influence_json
        actual = FileIdentity.of(json_path) if written is not None else None
        if actual is None or (written.bytes, written.sha256) != (actual.bytes, actual.sha256):
            raise ValueError(
                f"{json_path} is not the influence JSON that {describe_run(run, fp)} wrote (see {run_path}): it was"
                f" rewritten by another tool or an interrupted compute; {RERUN} (or, to use this JSON as it is,"
                f" delete {run_path.name} and {npz_path.name} beside it)"
            )
    return fp


def check_sample_metadata(
    json_path: str | Path, records: Mapping[str, Mapping[str, Any]] | None, sample_ids: Iterable[str],
    metadata_path: str | Path = "the sample metadata", run: InfluenceRun | None = None,
) -> None:
    """Refuse (one line) sample metadata whose records of `sample_ids` were written by another
    compute run than the influence files beside it (or by several). `run`: the run file, already read."""
    if not records:
        return
    json_path = Path(json_path)
    run = InfluenceRun.read(influence_run_path_for(json_path)) if run is None else run
    found = {records[s][K_TRACIN_RUN] for s in sample_ids
             if isinstance(records.get(s), Mapping) and isinstance(records[s].get(K_TRACIN_RUN), str)}
    reference = run.fingerprint
    if not found or not reference:
        return
    if len(found) > 1:
        raise ValueError(f"{metadata_path} holds records of several compute runs ({', '.join(sorted(found))}): {RERUN}")
    (fp,) = found
    if fp != reference:
        raise ValueError(f"{metadata_path} is from run {fp}, but the influence files beside it are from"
                         f" {describe_run(run, reference)}: {RERUN}")
