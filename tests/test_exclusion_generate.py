"""`generate_exclusions` as a library call: what it returns, and where the list goes by default."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from exclusion.config import ExclusionConfig
from exclusion.generate import default_output_file, generate_exclusions
from influence.io import InfluenceData, save_influence
from utils.constants import influence_run_path_for


def write_influence(folder: Path, hand_matrix) -> Path:
    """`folder/metadata/plastic_500hz_influence_metadata.json` (+ matrix) of the hand-worked matrix."""
    path = folder / "metadata" / "plastic_500hz_influence_metadata.json"
    save_influence(path, InfluenceData(hand_matrix.pairs, hand_matrix.val_pairs, hand_matrix.influence))
    return path


def test_returns_the_selection_and_the_report_lines(tmp_path, hand_matrix):
    A, B, C, D, E = hand_matrix.ids
    path = write_influence(tmp_path, hand_matrix)
    out = tmp_path / "list.txt"
    result = generate_exclusions(ExclusionConfig(metadata_file=path, output_file=out, threshold="-1", min_occurrences=2))
    assert result.selection.ids == [A, D, B] and result.output_file == out
    assert result.selection.ranking.index.tolist() == [0, 1, 4, 2]  # the ranking --verbose shows, not ranked twice
    assert (result.threshold.value, result.threshold.text, result.threshold.auto) == (-1.0, "-1", None)
    lines = result.lines()
    assert lines[0].startswith(f"{path}: 5 training pairs x 4 validation pairs, 5 training recordings; 9 of 20 scores")
    assert lines[1].startswith("4 training pairs qualify (influence below -1 on at least 2 of 4 validation pairs)")
    assert lines[-2] == f"wrote {out} (3 ids)"
    assert lines[-1] == f"review sheet: {result.review.markdown} (also {result.review.csv.name})"  # no WAVs: no picture
    assert result.metadata_update is None and result.plot is None


def test_auto_threshold_is_reported(tmp_path, hand_matrix):
    path = write_influence(tmp_path, hand_matrix)
    result = generate_exclusions(ExclusionConfig(metadata_file=path, min_occurrences=1))
    assert result.threshold.auto == pytest.approx(-2 - 3 * 1.4826 * 0.5)
    assert result.lines()[1].startswith(f"threshold auto: {result.threshold.auto:.6g} (median - 3 x 1.4826 x MAD")


def test_the_default_list_goes_to_the_data_root_compute_recorded(tmp_path, hand_matrix):
    """compute_tracin_influence.py --metadata-dir elsewhere: the list still goes to the run's data root."""
    data_root = tmp_path / "data"
    data_root.mkdir()
    path = write_influence(tmp_path / "elsewhere", hand_matrix)
    run_file = influence_run_path_for(path)
    run_file.write_text(json.dumps({"data_root": str(data_root)}))
    expected = data_root / "exclusions" / "plastic_500hz_tracin_exclusions.txt"
    result = generate_exclusions(ExclusionConfig(metadata_file=path, threshold="-1", min_occurrences=2))
    assert result.output_file == expected and expected.is_file()
    # A recorded root that no longer exists, or an older influence file without a run file:
    # the data root is the folder above the influence file's folder.
    beside = (tmp_path / "elsewhere" / "exclusions" / "plastic_500hz_tracin_exclusions.txt").resolve()
    run_file.write_text(json.dumps({"data_root": str(tmp_path / "gone")}))
    assert default_output_file(path) == beside
    run_file.unlink()
    assert default_output_file(path) == beside
    with pytest.raises(ValueError, match="pass --output-file"):
        default_output_file(tmp_path / "scores.json")
