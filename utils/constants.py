"""File names, folder names and JSON keys shared by every script.

These strings are a public interface: users plot the JSON files with their own snippets
and older tools wrote the same names, so change them only with a migration.
"""
from __future__ import annotations

from pathlib import Path

FREQUENCIES = ("500hz", "1000hz", "3000hz")
ALL_FREQUENCIES = "all"
FREQUENCY_CHOICES = FREQUENCIES + (ALL_FREQUENCIES,)
DEFAULT_FREQUENCY = "500hz"
DEFAULT_MATERIAL = "plastic"
DEFAULT_ANGLES = (0, 36, 72, 108, 144, 180)
SAMPLE_RATE = 48_000

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")

DATA_ROOT_ENV = "SINETONE_DATA_ROOT"
DEFAULT_DEMO_ROOT = "data/demo"

CHECKPOINTS_DIR = "checkpoints"
METADATA_DIR = "metadata"
EXCLUSIONS_DIR = "exclusions"
CACHE_DIR = ".spectrogram_cache"

CHECKPOINT_PREFIX = "model_checkpoint_epoch"
RUN_FILE = "run.json"
HISTORY_FILE = "history.json"
SUMMARY_FILE = "summary.json"
SCORES_FILE = "scores.json"
CURVES_FILE = "training_curves.png"
# run.json: written at the start with "complete": false, rewritten at the very end (after
# history, summary, scores and curves) with "complete": true and "final_epoch".
K_RUN_COMPLETE = "complete"
K_FINAL_EPOCH = "final_epoch"
LOCK_FILE = ".sinetone.lock"
"""One writer at a time: the lock file in a run folder (train.py) and in a metadata folder (compute, generate)."""

INFLUENCE_KEY_PREFIX = "tracin_influence_"
INFLUENCE_MATRIX_SUFFIX = "_influence_matrix.npz"
INFLUENCE_RUN_SUFFIX = "_influence_run.json"
INFLUENCE_PLOT_SUFFIX = "_influence_distribution.png"


def frequency_hz(frequency: str) -> float:
    """`500hz` -> 500.0."""
    if not frequency.endswith("hz") or not frequency[:-2].isdigit():
        raise ValueError(f"frequency must look like '500hz', got {frequency!r}")
    return float(frequency[:-2])


def metadata_file_name(material: str, frequency: str) -> str:
    """`plastic_500hz_metadata.json`: the per-recording metadata store."""
    return f"{material}_{frequency}_metadata.json"


def influence_file_name(material: str, frequency: str) -> str:
    """`plastic_500hz_influence_metadata.json`: nested train pair -> val pair scores."""
    return f"{material}_{frequency}_influence_metadata.json"


def exclusions_file_name(material: str, frequency: str) -> str:
    """`plastic_500hz_tracin_exclusions.txt`: the list a person reviews and edits."""
    return f"{material}_{frequency}_tracin_exclusions.txt"


def checkpoint_file_name(epoch: int, prefix: str = CHECKPOINT_PREFIX) -> str:
    return f"{prefix}_{epoch}.pt"


INFLUENCE_SUFFIX = "_influence_metadata.json"
METADATA_SUFFIX = "_metadata.json"


def sample_metadata_path_for(influence_path: str | Path) -> Path:
    """The sample metadata file beside an influence file (`x_influence_metadata.json` -> `x_metadata.json`)."""
    p = Path(influence_path)
    name = p.name
    if not name.endswith(INFLUENCE_SUFFIX):
        raise ValueError(
            f"cannot find the sample metadata beside {p}: influence files end with '{INFLUENCE_SUFFIX}'"
        )
    return p.with_name(name[: -len(INFLUENCE_SUFFIX)] + METADATA_SUFFIX)


def _beside_influence_file(influence_path: str | Path, suffix: str) -> Path:
    p = Path(influence_path)
    stem = p.name[: -len(INFLUENCE_SUFFIX)] if p.name.endswith(INFLUENCE_SUFFIX) else p.stem
    return p.with_name(stem + suffix)


def matrix_path_for(influence_path: str | Path) -> Path:
    """The dense `.npz` written beside an influence JSON file."""
    return _beside_influence_file(influence_path, INFLUENCE_MATRIX_SUFFIX)


def influence_run_path_for(influence_path: str | Path) -> Path:
    """The run file (configuration, data root, checkpoints, summary) written beside an influence JSON file."""
    return _beside_influence_file(influence_path, INFLUENCE_RUN_SUFFIX)


def influence_plot_path_for(influence_path: str | Path) -> Path:
    """The score distribution picture written beside an influence JSON file."""
    return _beside_influence_file(influence_path, INFLUENCE_PLOT_SUFFIX)


# Sample records in {material}_{frequency}_metadata.json.
K_ID = "id"
K_FILE_PATH = "file_path"
K_ANGLE = "angle"
K_MATERIAL = "material"
K_FREQUENCY = "frequency"
K_SEQ = "seq_num"
K_EXCLUDED = "excluded"
K_NOTES = "notes"
K_TRACIN_INFO = "tracin_info"
K_SELF_INFLUENCE = "tracin_self_influence"
K_SPLIT = "split"
K_TRACIN_RUN = "tracin_run"
"""The fingerprint of the compute run that wrote a record's split and self-influence (see influence/fingerprint.py)."""

# tracin_info sub-keys (the tutorial names these).
K_EXCLUSION_DATE = "exclusion_date"
K_NEG_OCCURRENCES = "negative_occurrences"
K_AVG_INFLUENCE = "average_influence"
K_AFFECTED = "affected_test_samples"

# generate_tracin_exclusions.py: its files, and the extra tracin_info keys.
EXCLUSIONS_SUFFIX = "_tracin_exclusions.txt"
RELABEL_SUFFIX = "_relabel.txt"
LIST_DATA_ROOT_LINE = "# run data root: "
"""The header line of an exclusion list that names the data root it was made from (JSON-quoted path)."""
REVIEW_SUFFIX = "_review"
"""`<list stem>_review.md`, `.csv`, `.png`: the review sheet written beside an exclusion list."""
K_CRITERION = "criterion"
K_THRESHOLD = "threshold"
K_HARMFUL_PAIRS = "harmful_pairs"
K_INFO_SELF_INFLUENCE = "self_influence"
K_REINCLUDED_DATE = "reincluded_date"
K_RULE = "rule"
K_SUGGESTED_ANGLE = "suggested_angle"
K_MISFIT = "misfit"
K_P_WRONG = "label_wrong_probability"
K_SUGGESTION_P = "suggested_angle_probability"
K_GENERATE_STAMP = "generate_stamp"
"""In `tracin_info`: the stamp of the generate run that wrote it (`datasets.stamps`)."""
K_LIST_FILE = "list_file"
"""In `tracin_info`: the list (absolute path) that generate run wrote."""
