"""Ranking pairs and the train / validation / holdout split."""
from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from datasets import AudioSpectrumDataset, DatasetConfig, make_pairs, pair_id, stratified_split
from datasets.sample_id import SampleId
from datasets.pairs import SPLIT_NAMES
from utils.constants import DEFAULT_ANGLES


def sid(angle: int, take: int) -> str:
    return str(SampleId.of("plastic", angle, "500hz", take))


def dataset(root: Path, **kw) -> AudioSpectrumDataset:
    return AudioSpectrumDataset(DatasetConfig(data_root=root, **kw), progress=False)


def test_make_pairs_by_hand():
    # Recordings 0..3 at 72, 0, 36, 36 degrees.
    pairs, targets = make_pairs([0, 1, 2, 3], [72, 0, 36, 36])
    assert pairs.tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3]]
    assert targets.tolist() == [1.0, 1.0, 1.0, -1.0, -1.0]
    # A subset keeps the order of the given indices.
    pairs, targets = make_pairs([3, 1], [72, 0, 36, 36])
    assert pairs.tolist() == [[3, 1]] and targets.tolist() == [1.0]


def test_pair_id_is_the_two_ids_joined():
    assert pair_id("plastic_deg000_500hz_01", "plastic_deg036_500hz_02") == "plastic_deg000_500hz_01_plastic_deg036_500hz_02"


def test_dataset_pairs_cover_every_angle_difference_and_skip_excluded(tmp_path, make_data):
    root = make_data(tmp_path / "data", takes=3, angles=(0, 36, 72, 108))
    excl = tmp_path / "excl.txt"
    excl.write_text(f"{sid(36, 2)}\n")
    full = dataset(root)
    ds = dataset(root, exclusions_file=excl)
    ids, angles = ds.sample_ids, ds.angles

    pairs, targets = full.pairs()
    assert pairs.dtype == np.int64 and targets.dtype == np.float32
    # Every unordered pair of recordings with different angles, exactly once.
    expected = {frozenset((a, b)) for a, b in combinations(ids, 2) if angles[ids.index(a)] != angles[ids.index(b)]}
    got = [frozenset((ids[i], ids[j])) for i, j in pairs]
    assert len(got) == len(set(got)) == len(expected) == 54
    assert set(got) == expected
    for (i, j), y in zip(pairs, targets):
        assert y == (1.0 if angles[i] > angles[j] else -1.0)
    again, again_t = full.pairs()
    assert np.array_equal(again, pairs) and np.array_equal(again_t, targets)

    pairs_ex, _ = ds.pairs()
    id_pairs = {(ids[i], ids[j]) for i, j in pairs_ex}
    assert all(sid(36, 2) not in p for p in id_pairs)
    assert id_pairs == {(ids[i], ids[j]) for i, j in pairs if sid(36, 2) not in (ids[i], ids[j])}
    assert len(pairs) - len(pairs_ex) == 9  # the 9 recordings at other angles
    # The excluded recording's pairs exist only when asked for explicitly.
    all_pairs, _ = ds.pairs(valid_only=False)
    assert np.array_equal(all_pairs, pairs)


def test_stratified_split(tmp_path, make_data):
    root = make_data(tmp_path / "data", takes=4)
    excl = tmp_path / "excl.txt"
    excl.write_text(f"{sid(0, 1)}\n{sid(36, 3)}\n{sid(180, 4)}\n")
    ds = dataset(root)
    ds_ex = dataset(root, exclusions_file=excl)

    split = stratified_split(ds.sample_ids, ds.angles, seed=5)
    assert split == stratified_split(ds.sample_ids, ds.angles, seed=5)
    assert split == stratified_split(ds_ex.sample_ids, ds_ex.angles, seed=5)  # over all recordings
    assert tuple(split) == SPLIT_NAMES == ("train", "validation", "holdout")
    members = [s for name in SPLIT_NAMES for s in split[name]]
    assert sorted(members) == ds.sample_ids  # a partition
    assert [len(split[n]) for n in SPLIT_NAMES] == [12, 6, 6]
    angle_of = dict(zip(ds.sample_ids, ds.angles))
    for name, per_angle in (("train", 2), ("validation", 1), ("holdout", 1)):
        assert split[name] == sorted(split[name])
        counts = {a: sum(1 for s in split[name] if angle_of[s] == a) for a in DEFAULT_ANGLES}
        assert counts == {a: per_angle for a in DEFAULT_ANGLES}, name
    others = [stratified_split(ds.sample_ids, ds.angles, seed=s) for s in (6, 7, 8)]
    assert all(o != split for o in others)
    # Fractions are validated.
    for bad in [(0.5, 0.5, 0.5), (0.5, 0.5), (1.2, -0.1, -0.1)]:
        with pytest.raises(ValueError, match="fractions"):
            stratified_split(ds.sample_ids, ds.angles, bad)
    assert stratified_split(ds.sample_ids, ds.angles, (1.0, 0.0, 0.0))["train"] == ds.sample_ids
