"""Influence files: the npz, the nested JSON, older files (format 1, raw nested JSON) and pair-id splitting."""
import json

import numpy as np
import pytest

from influence.data import InfluenceData
from influence.io import load_influence, read_matrix, read_run_info, recorded_data_root, save_influence
from influence.records import InfluenceRun
from influence.nested_json import NESTED_FULL
from influence.pair_ids import split_pair_id
from influence.summary import summarize_dense
from utils.constants import K_SELF_INFLUENCE, matrix_path_for

A, B, C, D = "plastic_deg000_500hz_01", "plastic_deg036_500hz_01", "plastic_deg072_500hz_01", "plastic_deg000_500hz_03"
V1, V2 = "plastic_deg000_500hz_02", "plastic_deg072_500hz_02"
TRAIN = [(A, B), (A, C), (B, C), (B, D), (C, D)]
VAL = [(V1, V2), (V2, V1)]
RAW = np.array([[-1.5, 0.25], [2.0, -3.0], [0.1 + 0.2, 0.0], [1.0, 1.5], [-2.0, 4.0]])


def _data() -> InfluenceData:
    return summarize_dense(TRAIN, VAL, RAW, {"seed": 7, "measurement": "margin"},
                           rec_self_by_id={A: 4.0, B: 5.0, C: 6.0, D: 7.0}, pair_self=np.arange(5.0))


def test_dense_summary_by_hand():
    data = _data()
    assert data.sample_ids == sorted({A, B, C, D, V1, V2})
    assert data.recording_ids == [A, D, B, C]
    # Pairs (A, B) and (B, D) are both 0-vs-36 degree pairs: within that group, column 0 holds -1.5 and 1.0,
    # median -0.25, MAD 1.25 -> z = -1.0 and +1.0.
    rows = {pair: k for k, pair in enumerate(TRAIN)}
    z = data.influence_z
    assert z[rows[(A, B)], 0] == pytest.approx(-1.25 / (1.4826 * 1.25))
    assert z[rows[(B, D)], 0] == pytest.approx(1.25 / (1.4826 * 1.25))
    np.testing.assert_array_equal(data.influence, RAW)
    assert np.all(np.diff(data.pair_low_z, axis=1) >= 0)  # every score kept, ascending
    np.testing.assert_allclose(np.take_along_axis(z, data.pair_low_idx, axis=1), data.pair_low_z, rtol=1e-6)
    # Recording influence: A = (A,B) + (A,C); its total over both validation pairs is -1.25 - 1.0.
    assert data.rec_total[data.recording_ids.index(A)] == pytest.approx(-1.25 - 1.0)
    np.testing.assert_array_equal(data.rec_self_influence, [4.0, 7.0, 5.0, 6.0])


def test_round_trip_through_npz(tmp_path):
    path = tmp_path / "plastic_500hz_influence_metadata.json"
    assert save_influence(path, _data()) == NESTED_FULL
    assert matrix_path_for(path).name == "plastic_500hz_influence_matrix.npz"
    loaded, original = load_influence(path), _data()
    for name in ("angles", "train_pairs", "val_pairs", "recordings", "pair_low_z", "pair_low_idx", "pair_mean_z",
                 "rec_low_z", "rec_mean_z", "rec_total", "rec_self_influence", "pair_self_influence", "influence"):
        np.testing.assert_allclose(getattr(loaded, name), getattr(original, name), rtol=1e-6, err_msg=name)
    assert loaded.sample_ids == original.sample_ids
    assert loaded.info == original.info and (loaded.info.seed, loaded.info.measurement) == (7, "margin")
    assert loaded.val_pair_ids == [f"{V1}_{V2}", f"{V2}_{V1}"]


def test_what_the_caller_read_once_is_what_is_used(tmp_path):
    path = tmp_path / "plastic_500hz_influence_metadata.json"
    save_influence(path, _data())
    assert read_run_info(path) == InfluenceRun()  # no run file beside it: an empty record
    matrix = read_matrix(path)
    assert matrix is not None and matrix[1] == path.stat().st_size
    matrix_path_for(path).unlink()  # read already: load_influence does not go back to the files
    path.unlink()
    assert read_matrix(path) is None
    assert load_influence(path, matrix=matrix).sample_ids == _data().sample_ids
    assert recorded_data_root(path, InfluenceRun(data_root=str(tmp_path))) == tmp_path
    assert recorded_data_root(path) is None


def test_nested_json_holds_the_standardised_scores(tmp_path):
    path = tmp_path / "plastic_500hz_influence_metadata.json"
    data = _data()
    save_influence(path, data)
    nested = json.loads(path.read_text())
    assert list(nested) == [f"{a}_{b}" for a, b in TRAIN]
    row = nested[f"{A}_{B}"]
    assert row[f"tracin_influence_{V1}_{V2}"] == pytest.approx(float(data.influence_z[0, 0]))


def test_without_the_dense_matrix_the_nested_json_holds_the_harmful_pairs(tmp_path):
    data = _data()
    data.influence = data.influence_z = None
    data.pair_low_z = np.array([[-5.0, -4.0], [-5.0, 0.0], [0.0, 0.0], [-4.0, -3.5], [1.0, 2.0]])
    path = tmp_path / "plastic_500hz_influence_metadata.json"
    assert save_influence(path, data, threshold=-3.0, min_occurrences=2) == "harmful pairs only"
    nested = json.loads(path.read_text())
    assert list(nested) == [f"{A}_{B}", f"{B}_{D}"] and len(nested[f"{A}_{B}"]) == 2


def test_raw_nested_json_without_matrix_is_standardised_on_reading(tmp_path):
    path = tmp_path / "plastic_500hz_influence_metadata.json"
    path.write_text(json.dumps({f"{a}_{b}": {f"tracin_influence_{x}_{y}": RAW[p, q] for q, (x, y) in enumerate(VAL)}
                                for p, (a, b) in enumerate(TRAIN)}))
    legacy = load_influence(path)
    np.testing.assert_allclose(legacy.influence_z, _data().influence_z)
    assert legacy.rec_self_influence is None  # not derivable from the JSON
    records = {sid: {"id": sid, K_SELF_INFLUENCE: float(k)} for k, sid in enumerate((A, B, C, D))}
    np.testing.assert_array_equal(load_influence(path, sample_records=records).rec_self_influence, [0.0, 3.0, 1.0, 2.0])


def test_legacy_ids_with_underscores_need_known_ids_and_angles(tmp_path):
    # Ids that do not follow the naming scheme, each containing '_': only the sample metadata can split them.
    nested = {
        "take_1_b_take_2": {"tracin_influence_val_x_val_y": -4.0},  # take_1 + b_take_2 (not take_1_b + take_2)
        "take_1_b_take_1": {"tracin_influence_val_x_val_y": 1.0},
    }
    path = tmp_path / "x_influence_metadata.json"
    path.write_text(json.dumps(nested))
    angles = {"take_1": 0, "take_1_b": 36, "b_take_2": 72, "val_x": 0, "val_y": 36}
    records = {sid: {"id": sid, "angle": angle} for sid, angle in angles.items()}
    data = load_influence(path, sample_records=records)
    assert data.pair_ids(data.train_pairs) == ["take_1_b_take_2", "take_1_b_take_1"]
    assert data.recording_ids == ["b_take_2", "take_1", "take_1_b"]
    np.testing.assert_array_equal(data.angles, [72, 0, 36, 0, 36])
    with pytest.raises(ValueError, match="cannot split pair id"):
        load_influence(path)  # without the ids: no split fits the naming scheme


def test_legacy_missing_scores_read_as_zero(tmp_path, caplog):
    path = tmp_path / "x_influence_metadata.json"
    path.write_text(json.dumps({f"{A}_{B}": {f"tracin_influence_{V1}_{V2}": -1.0, f"tracin_influence_{V2}_{V1}": 2.0},
                                f"{A}_{C}": {f"tracin_influence_{V2}_{V1}": 3.0}}))
    np.testing.assert_array_equal(load_influence(path).influence, [[-1.0, 2.0], [0.0, 3.0]])
    assert "1 missing score(s) read as 0" in caplog.text


def test_format_1_matrix_is_read(tmp_path):
    path = tmp_path / "plastic_500hz_influence_metadata.json"
    arrays = {"format_version": np.asarray(1), "json_bytes": np.asarray(-1),
              "train_a": np.asarray([a for a, _ in TRAIN]), "train_b": np.asarray([b for _, b in TRAIN]),
              "val_a": np.asarray([a for a, _ in VAL]), "val_b": np.asarray([b for _, b in VAL]), "influence": RAW,
              "info_json": np.asarray(json.dumps({"seed": 1}))}
    with open(matrix_path_for(path), "wb") as handle:
        np.savez(handle, **arrays)
    data = load_influence(path)
    np.testing.assert_allclose(data.influence_z, _data().influence_z)
    assert data.info.seed == 1


def test_stale_matrix_falls_back_to_json(tmp_path, caplog):
    path = tmp_path / "plastic_500hz_influence_metadata.json"
    save_influence(path, _data())
    nested = json.loads(path.read_text())
    nested[f"{A}_{B}"][f"tracin_influence_{V1}_{V2}"] = -100.0
    path.write_text(json.dumps(nested))  # another tool rewrote the JSON
    data = load_influence(path)
    assert data.influence[0, 0] == -100.0  # read as raw scores (no run file says otherwise)
    assert "not written with" in caplog.text


def test_matrix_only(tmp_path):
    path = tmp_path / "plastic_500hz_influence_metadata.json"
    assert save_influence(path, _data(), write_json=False) is None
    assert not path.exists()
    np.testing.assert_array_equal(load_influence(path).influence, RAW)


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
    data.influence_z[0, 0] = np.nan
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
