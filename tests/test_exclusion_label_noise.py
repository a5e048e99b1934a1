"""The label-noise model of harmonic profiles: its normal CDF, its estimates on draws of known answer,
censoring, and the exact planted mislabels it finds in real demo WAVs."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from datasets.audio_dataset import AudioSpectrumDataset
from datasets.demo_data import DemoDataConfig, generate
from datasets.faults import is_mislabel
from datasets.harmonics import dataset_profiles
from datasets.pairs import stratified_split
from exclusion.label_noise import ProfileFeatures, judge_labels, log_normal_cdf, profile_features
from training.config import TrainConfig


def test_log_normal_cdf_matches_erfc_into_both_tails():
    z = np.concatenate([np.linspace(-35, 8, 431), [-1e-9, 0.0, 1e-9]])
    want = np.array([math.log(0.5 * math.erfc(-v / math.sqrt(2))) for v in z])
    got = log_normal_cdf(z)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-7)
    assert np.isfinite(log_normal_cdf(np.array([-200.0]))).all()  # no underflow to log(0)


def _features(x: np.ndarray) -> ProfileFeatures:
    n, d = x.shape
    return ProfileFeatures(x.copy(), np.full((n, d), np.nan), np.ones((n, d), bool), np.zeros((n, d), bool))


def test_finds_the_relabelled_draws_and_estimates_the_noise_rate():
    rng = np.random.default_rng(0)
    means = rng.normal(0, 6, (6, 5))
    true = np.repeat(np.arange(6), 40)
    x = means[true] + rng.normal(0, 1.0, (240, 5))
    stored = true.copy()
    wrong = rng.choice(240, size=24, replace=False)  # 10% stored under another angle
    stored[wrong] = (true[wrong] + rng.integers(1, 6, size=24)) % 6
    angles = np.array([0, 36, 72, 108, 144, 180], dtype=float)
    verdicts = judge_labels(_features(x), angles[stored], np.arange(240))
    assert set(np.flatnonzero(verdicts.listed())) == set(wrong.tolist())
    assert verdicts.eps == pytest.approx(0.1, abs=0.03)
    np.testing.assert_array_equal(verdicts.likely_angle[wrong], angles[true[wrong]])


def test_a_harmonic_at_its_noise_floor_is_censored_and_its_gain_dependent_level_is_ignored():
    rng = np.random.default_rng(1)
    n = 120
    labels = np.repeat([0, 1], n // 2)
    gain = rng.uniform(-18, -3, n)
    floors = np.stack([-(60 + gain), -(60 + gain) + rng.normal(0, 0.3, n)], axis=1)  # (n, 2): fundamental, harmonic 2
    level2 = np.where(labels == 0, -20 + rng.normal(0, 1, n), floors[:, 1] + rng.normal(0, 0.5, n))
    levels = np.stack([np.zeros(n), level2], axis=1)
    f = profile_features(levels, floors)
    assert f.censored[labels == 1, 0].all() and f.observed[labels == 0, 0].all()
    verdicts = judge_labels(f, labels * 90.0, np.arange(n))
    assert not verdicts.listed().any()  # the buried harmonic's gain-dependent level marks nobody


@pytest.fixture(scope="module")
def demo_profiles(tmp_path_factory):
    root = tmp_path_factory.mktemp("labels") / "data"
    truth_file = root.parent / "truth.json"
    generate(DemoDataConfig(output_root=root, takes=12, seed=4, faults={"mislabel-far": 4, "mislabel-near": 2},
                            truth_file=truth_file))
    cfg = TrainConfig(frequency="500hz", data_root=root, progress=False)
    ds = AudioSpectrumDataset(cfg.dataset_config(), progress=False, register=False)
    split = stratified_split(ds.sample_ids, ds.stored_angles, seed=4)
    used = np.concatenate([ds.indices(split["train"]), ds.indices(split["validation"])])
    faults = json.loads(truth_file.read_text())["faults"]
    return ds, split, used, faults


def test_finds_exactly_the_planted_mislabels_in_real_recordings(demo_profiles):
    ds, split, used, faults = demo_profiles
    levels, floors = dataset_profiles(ds, used)
    train = np.arange(len(split["train"]))  # the training takes come first in `used`
    verdicts = judge_labels(profile_features(levels, floors), ds.stored_angles[used], train)
    ids = [ds.sample_ids[i] for i in used[train]]
    planted = sorted(s for s in ids if s in faults and is_mislabel(faults[s]["kind"]))
    listed = sorted(s for s, hit in zip(ids, verdicts.listed()) if hit)
    assert planted and listed == planted
    for s in planted:
        assert verdicts.likely_angle[ids.index(s)] == faults[s]["true_angle"]
