"""`generate_exclusions` as a library call: what it returns, and where the list goes by default."""
from __future__ import annotations

import json
from pathlib import Path

from exclusion.config import ExclusionConfig
from exclusion.generate import default_output_file, generate_exclusions
from influence.io import save_influence
from utils.constants import influence_run_path_for


def write_influence(folder: Path, scored) -> Path:
    """`folder/metadata/plastic_500hz_influence_metadata.json` (+ matrix) of conftest's `scored`."""
    path = folder / "metadata" / "plastic_500hz_influence_metadata.json"
    save_influence(path, scored.data())
    return path


def test_returns_the_selection_and_the_report_lines(tmp_path, scored):
    path = write_influence(tmp_path, scored)
    out = tmp_path / "list.txt"
    result = generate_exclusions(ExclusionConfig(metadata_file=path, output_file=out, consider_both_samples=True))
    assert result.selection.ids == [scored.misfit, scored.hub] and result.output_file == out
    assert result.selection.criterion == "combined" and result.selection.threshold == -3.0
    lines = result.lines()
    assert lines[0] == f"{path}: 96 training pairs x 24 validation pairs, 16 training recordings; scores are robust z " \
                       "(docs/design.md)"
    assert lines[1] == "criterion combined: 2 recordings (harmful pairs or misfit) qualify; listing 2 recordings " \
                       "(--max-exclusions 30)"
    assert lines[2] == f"  {scored.misfit} [misfit, suggested angle 108]"
    assert lines[3] == f"  {scored.hub} [pairs, suggested angle 36]"
    assert lines[4] == f"wrote {out} (2 ids)"
    assert lines[-1] == f"review sheet: {result.review.markdown} (also {result.review.csv.name})"  # no WAVs: no picture
    assert result.metadata_update is None and result.plot is None
    assert result.relabel_file == tmp_path / "list_relabel.txt"


def test_auto_threshold_is_reported(tmp_path, scored):
    path = write_influence(tmp_path, scored)
    result = generate_exclusions(ExclusionConfig(metadata_file=path, threshold="auto"))
    assert result.config.threshold == -3.0 and result.config.auto_threshold
    assert result.lines()[1] == "threshold auto: -3 (the same on every run: scores are scale-free)"


def test_the_default_list_goes_to_the_data_root_compute_recorded(tmp_path, scored):
    """compute_tracin_influence.py --metadata-dir elsewhere: the list still goes to the run's data root."""
    data_root = tmp_path / "data"
    data_root.mkdir()
    path = write_influence(tmp_path / "elsewhere", scored)
    run_file = influence_run_path_for(path)
    run_file.write_text(json.dumps({"data_root": str(data_root)}))
    expected = data_root / "exclusions" / "plastic_500hz_tracin_exclusions.txt"
    result = generate_exclusions(ExclusionConfig(metadata_file=path))
    assert result.output_file == expected and expected.is_file()
    # A recorded root that no longer exists, or an older influence file without a run file:
    # the data root is the folder above the influence file's folder.
    beside = (tmp_path / "elsewhere" / "exclusions" / "plastic_500hz_tracin_exclusions.txt").resolve()
    run_file.write_text(json.dumps({"data_root": str(tmp_path / "gone")}))
    assert default_output_file(path) == beside
    run_file.unlink()
