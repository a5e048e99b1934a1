"""Influence files: the npz fast path, the nested JSON, legacy files and pair-id splitting."""
import json

import numpy as np
import pytest

from influence.io import InfluenceData, load_influence, save_influence, split_pair_id, sum_pairs_by_recording
from utils.constants import K_SELF_INFLUENCE, matrix_path_for

A, B, C = "plastic_deg000_500hz_01", "plastic_deg036_500hz_01", "plastic_deg072_500hz_01"
V1, V2 = "plastic_deg000_500hz_02", "plastic_deg072_500hz_02"


def _data() -> InfluenceData:
    return InfluenceData(
        train_pairs=[(A, B), (A, C), (B, C)],
        val_pairs=[(V1, V2), (V2, V1)],
        influence=np.array([[-1.5, 0.25], [2.0, -3.0], [0.1 + 0.2, 0.0]]),
        train_pair_self_influence=np.array([1.0, 2.0, 3.0]),
        recording_ids=[A, B, C],
        recording_self_influence=np.array([4.0, 5.0, 6.0]),
        info={"seed": 7, "learning_rates": [0.1, 0.05]},
    )


def test_round_trip_through_npz(tmp_path):
    path = tmp_path / "plastic_500hz_influence_metadata.json"
    save_influence(path, _data())
    assert matrix_path_for(path).name == "plastic_500hz_influence_matrix.npz"
    loaded = load_influence(path)
    assert loaded.train_pairs == [(A, B), (A, C), (B, C)]
    assert loaded.val_pairs == [(V1, V2), (V2, V1)]
    np.testing.assert_array_equal(loaded.influence, _data().influence)
    np.testing.assert_array_equal(loaded.train_pair_self_influence, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(loaded.recording_self_influence, [4.0, 5.0, 6.0])
    assert loaded.info == {"seed": 7, "learning_rates": [0.1, 0.05]}
    # recording influence derived: A = p0 + p1, B = p0 + p2, C = p1 + p2
    np.testing.assert_allclose(loaded.recording_influence, [[0.5, -2.75], [-1.2, 0.25], [2.3, -3.0]])


def test_nested_json_shape(tmp_path):
    path = tmp_path / "plastic_500hz_influence_metadata.json"
    save_influence(path, _data())
    nested = json.loads(path.read_text())
    assert list(nested) == [f"{A}_{B}", f"{A}_{C}", f"{B}_{C}"]
    assert nested[f"{A}_{C}"] == {f"tracin_influence_{V1}_{V2}": 2.0, f"tracin_influence_{V2}_{V1}": -3.0}
    assert nested[f"{B}_{C}"][f"tracin_influence_{V1}_{V2}"] == 0.1 + 0.2  # exact round trip


def test_legacy_json_without_matrix_matches_npz(tmp_path):
    path = tmp_path / "plastic_500hz_influence_metadata.json"
    save_influence(path, _data())
    fast = load_influence(path)
    matrix_path_for(path).unlink()
    legacy = load_influence(path)
    assert legacy.train_pairs == fast.train_pairs and legacy.val_pairs == fast.val_pairs
    np.testing.assert_array_equal(legacy.influence, fast.influence)
    np.testing.assert_array_equal(legacy.recording_influence, fast.recording_influence)
    assert legacy.recording_self_influence is None  # not derivable from the JSON


def test_legacy_ids_with_underscores_need_known_ids(tmp_path):
    # Ids that do not follow the naming scheme, each containing '_': only the sample metadata can split them.
    ids = ["take_1", "take_1_b", "b_take_2", "val_x", "val_y"]
    nested = {
        "take_1_b_take_2": {"tracin_influence_val_x_val_y": -4.0},  # take_1 + b_take_2 (not take_1_b + take_2)
        "take_1_b_take_1": {"tracin_influence_val_x_val_y": 1.0},
    }
    path = tmp_path / "x_influence_metadata.json"
    path.write_text(json.dumps(nested))
    records = {sid: {"id": sid} for sid in ids}
    records["take_1"][K_SELF_INFLUENCE] = 0.5
    records["take_1_b"][K_SELF_INFLUENCE] = 0.25
    records["b_take_2"][K_SELF_INFLUENCE] = 2.0
    data = load_influence(path, sample_records=records)
    assert data.train_pairs == [("take_1", "b_take_2"), ("take_1_b", "take_1")]
    assert data.val_pairs == [("val_x", "val_y")]
    assert data.recording_ids == ["b_take_2", "take_1", "take_1_b"]
    np.testing.assert_array_equal(data.recording_self_influence, [2.0, 0.5, 0.25])
    with pytest.raises(ValueError, match="cannot split pair id"):
        load_influence(path)  # without the ids: no split fits the naming scheme


def test_legacy_missing_scores_read_as_zero(tmp_path):
    path = tmp_path / "x_influence_metadata.json"
    path.write_text(json.dumps({f"{A}_{B}": {f"tracin_influence_{V1}_{V2}": -1.0, f"tracin_influence_{V2}_{V1}": 2.0},
                                f"{A}_{C}": {f"tracin_influence_{V2}_{V1}": 3.0}}))
    data = load_influence(path)
    np.testing.assert_array_equal(data.influence, [[-1.0, 2.0], [0.0, 3.0]])


def test_stale_matrix_falls_back_to_json(tmp_path, caplog):
    path = tmp_path / "plastic_500hz_influence_metadata.json"
    save_influence(path, _data())
    nested = json.loads(path.read_text())
    nested[f"{A}_{B}"][f"tracin_influence_{V1}_{V2}"] = -100.0
    path.write_text(json.dumps(nested))  # another tool rewrote the JSON
    data = load_influence(path)
    assert data.influence[0, 0] == -100.0
    assert "not written with" in caplog.text


def test_matrix_only(tmp_path):
    path = tmp_path / "plastic_500hz_influence_metadata.json"
    save_influence(path, _data(), write_json=False)
    assert not path.exists()
    np.testing.assert_array_equal(load_influence(path).influence, _data().influence)


def test_missing_and_malformed_files(tmp_path):
    path = tmp_path / "plastic_500hz_influence_metadata.json"
    with pytest.raises(FileNotFoundError, match="influence file not found"):
        load_influence(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON") as err:
        load_influence(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    path.write_text(json.dumps({f"{A}_{B}": {f"tracin_influence_{V1}_{V2}": "bad"}}))
    with pytest.raises(ValueError, match="not a finite number"):
        load_influence(path)
    path.write_text("{}")
    with pytest.raises(ValueError, match="holds no scores"):
        load_influence(path)
    matrix_path_for(path).write_bytes(b"garbage")
    with pytest.raises(ValueError, match="unreadable"):
        load_influence(path)


def test_save_rejects_non_finite(tmp_path):
    data = _data()
    data.influence[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        save_influence(tmp_path / "x_influence_metadata.json", data)


def test_split_pair_id():
    assert split_pair_id(f"{A}_{B}") == (A, B)
    # a material with '_' in it still splits in exactly one way by the naming scheme
    assert split_pair_id("old_plastic_deg000_500hz_01_old_plastic_deg036_500hz_02") == (
        "old_plastic_deg000_500hz_01",
        "old_plastic_deg036_500hz_02",
    )
    assert split_pair_id("a_b_c", {"a_b", "c"}) == ("a_b", "c")
    with pytest.raises(ValueError, match="ambiguous"):
        split_pair_id("a_b_c", {"a", "b_c", "a_b", "c"})
    tricky = "x_deg000_500hz_1_y_deg000_500hz_2_z_deg000_500hz_3"
    with pytest.raises(ValueError, match="ambiguous"):
        split_pair_id(tricky)
    assert split_pair_id(tricky, {"x_deg000_500hz_1", "y_deg000_500hz_2_z_deg000_500hz_3"}) == (
        "x_deg000_500hz_1",
        "y_deg000_500hz_2_z_deg000_500hz_3",
    )
    with pytest.raises(ValueError, match="cannot split pair id 'foo_bar'"):
        split_pair_id("foo_bar")


def test_sum_pairs_by_recording(hand_matrix):
    ids, rec = sum_pairs_by_recording(hand_matrix.pairs, hand_matrix.influence)
    assert ids == list(hand_matrix.ids)
    np.testing.assert_allclose(
        rec,
        [
            [-5, -5, -2, 0],
            [-4, -4, -2, 5],
            [-8, -3, 0, 0],
            [-8.5, -3.5, 0, 5],
            [-1.5, -1.5, 0, 0],
        ],
    )
