"""train.py as the shell runs it: an existing run is kept, bad exclusions and devices are one line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import train as train_script
from datasets.sample_id import SampleId
from training.config import TrainConfig
from training.trainer import train
from datasets.sample_id import angle_of
from utils.constants import DATA_ROOT_ENV, LIST_DATA_ROOT_LINE

REPO = Path(__file__).resolve().parent.parent
FAST = ["--epochs", "3", "--checkpoint-interval", "2", "--device", "cpu", "--no-progress"]


def read(path: Path):
    return json.loads(path.read_text())


def sid(angle: int, take: int) -> str:
    return str(SampleId.of("plastic", angle, "500hz", take))


def write_exclusions(path: Path, ids: list[str]) -> Path:
    path.write_text("# test exclusions\n" + "".join(f"{s}\n" for s in ids))
    return path


def test_existing_run_folder_is_kept(baseline, data_root, cli, one_error_line):
    name = "keep_me"
    first = train(TrainConfig(frequency="500hz", data_root=data_root, run_name=name, epochs=1, device="cpu",
                              progress=False)).run_dir
    before = {p.name: p.read_bytes() for p in first.iterdir()}
    proc = subprocess.run(
        [sys.executable, "train.py", "--frequency", "500hz", "--data-root", str(data_root), "--run-name", name,
         "--epochs", "1", "--device", "cpu", "--no-progress"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert proc.returncode == 1
    line = one_error_line(proc.stderr, "train.py")
    assert str(first) in line and "--overwrite" in line
    assert {p.name: p.read_bytes() for p in first.iterdir()} == before

    code, _, _ = cli(train_script, ["--frequency", "500hz", "--data-root", str(data_root), "--run-name", name, "--overwrite",
                                    "--epochs", "2", "--checkpoint-interval", "1", "--device", "cpu", "--no-progress"])
    assert code == 0
    kept = [p for p in first.parent.iterdir() if p.name.startswith(name + ".old-")]
    assert len(kept) == 1
    assert {p.name: p.read_bytes() for p in kept[0].iterdir()} == before
    assert (first / "model_checkpoint_epoch_2.pt").is_file()
    assert read(first / "run.json")["config"]["epochs"] == 2


def test_exclusion_errors(baseline, data_root, tmp_path, cli, one_error_line):
    split = read(baseline / "run.json")["split"]
    before = sorted(p.name for p in (data_root / "checkpoints").iterdir())
    args = ["--frequency", "500hz", "--data-root", str(data_root), *FAST]

    missing = tmp_path / "missing.txt"
    code, _, err = cli(train_script, [*args, "--exclusions-file", str(missing)])
    assert code == 1
    assert str(missing) in one_error_line(err, "train.py")

    # Both training recordings at 36 degrees.
    at36 = [s for s in split["train"] if angle_of(s) == 36]
    assert len(at36) == 2
    code, _, err = cli(train_script, [*args, "--exclusions-file", str(write_exclusions(tmp_path / "all36.txt", at36))])
    assert code == 1
    assert "remove every train recording at angle(s) 36 degrees" in one_error_line(err, "train.py")

    typo = sid(72, 3).replace("_03", "_3")  # plastic_deg072_500hz_3
    excl = write_exclusions(tmp_path / "typo.txt", [sid(0, 1), typo])
    code, _, err = cli(train_script, [*args, "--exclusions-file", str(excl)])
    assert code == 1
    line = one_error_line(err, "train.py", warnings=True)
    assert f"'{typo}' (closest: '{sid(72, 3)}')" in line and "--allow-unknown-exclusions" in line
    assert sorted(p.name for p in (data_root / "checkpoints").iterdir()) == before  # nothing was written

    code, _, err = cli(train_script, [*args, "--exclusions-file", str(excl), "--allow-unknown-exclusions"])
    assert code == 0
    assert typo in err  # still warned about
    run = read(data_root / "checkpoints" / "plastic_500hz_standard_excl_typo" / "run.json")
    assert run["excluded_ids"] == [sid(0, 1)] and run["unknown_excluded_ids"] == [typo]


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_device_cuda_without_gpu_is_one_line(data_root, one_error_line):
    proc = subprocess.run(
        [sys.executable, "train.py", "--frequency", "500hz", "--data-root", str(data_root), "--device", "cuda",
         "--epochs", "1", "--run-name", "cuda_run", "--no-progress"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert proc.returncode == 1
    assert "--device cuda" in one_error_line(proc.stderr, "train.py") and "no CUDA" in proc.stderr
    assert not (data_root / "checkpoints" / "cuda_run").exists()


def test_retrain_takes_the_lists_data_root_and_compares_with_the_baseline(baseline, data_root, tmp_path, cli,
                                                                          one_error_line, monkeypatch):
    split = read(baseline / "run.json")["split"]
    listed = data_root / "exclusions" / "follow.txt"
    listed.parent.mkdir(exist_ok=True)
    listed.write_text(f"# TracIn exclusion list\n{LIST_DATA_ROOT_LINE}{json.dumps(str(data_root.resolve()))}\n"
                      f"{split['train'][0]}\n{split['holdout'][0]}\n")
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    code, out, err = cli(train_script, ["--frequency", "500hz", "--exclusions-file", str(listed), *FAST])
    assert code == 0, err
    assert read(data_root / "checkpoints" / "plastic_500hz_standard_excl_follow" / "run.json")["excluded_ids"] == sorted(
        [split["train"][0], split["holdout"][0]])
    assert "baseline plastic_500hz_standard vs this retrain, on the same holdout split:" in out
    assert "shared holdout pairs: pairwise accuracy" in out and "note:" not in out  # same settings as the baseline

    for given in ("flag", "environment"):
        argv = ["--frequency", "500hz", "--exclusions-file", str(listed), "--run-name", "never", *FAST]
        if given == "flag":
            argv += ["--data-root", str(tmp_path)]
        else:
            monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
        code, _, err = cli(train_script, argv)
        line = one_error_line(err, "train.py")
        assert code == 1 and str(data_root.resolve()) in line and str(tmp_path) in line
    assert not (data_root / "checkpoints" / "never").exists()


def test_retrain_with_a_relabel_file(baseline, data_root, cli, one_error_line, monkeypatch):
    """The suggested angles replace the stored ones; split and data root as with a list."""
    split = read(baseline / "run.json")["split"]
    moved = next(s for s in split["train"] if angle_of(s) == 0)
    relabel = data_root / "exclusions" / "moved_relabel.txt"
    relabel.parent.mkdir(exist_ok=True)
    relabel.write_text(f"# suggested angles\n{moved}  144  # stored 0; misfit\n")
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    code, out, err = cli(train_script, ["--frequency", "500hz", "--relabel-file", str(relabel), *FAST])
    assert code == 0, err
    run = read(data_root / "checkpoints" / "plastic_500hz_standard_relabel_moved_relabel" / "run.json")
    assert run["relabeled"] == {moved: 144} and run["split"] == split
    assert "baseline plastic_500hz_standard vs this retrain, on the same holdout split:" in out
    for text, words in ((f"{moved}  150\n", "150 degrees"), ("plastic_deg000_500hz_99  36\n", "unknown id")):
        relabel.write_text(text)
        code, _, err = cli(train_script, ["--frequency", "500hz", "--relabel-file", str(relabel), "--run-name", "no",
                                          *FAST])
        assert code == 1 and words in one_error_line(err, "train.py")


def test_missing_environment_folder_is_named(tmp_path, one_error_line):
    env = dict(os.environ, **{DATA_ROOT_ENV: str(tmp_path / "x")})
    proc = subprocess.run([sys.executable, "train.py", "--frequency", "500hz"], cwd=REPO, capture_output=True, text=True,
                          env=env)
    line = one_error_line(proc.stderr, "train.py")
    assert proc.returncode == 1 and f"${DATA_ROOT_ENV} names a folder that does not exist: {tmp_path / 'x'}" in line


def test_frequencies_one_run_each(tmp_path):
    for f in ("500hz", "1000hz"):
        (tmp_path / "exclusions" / f"plastic_{f}_list.txt").parent.mkdir(exist_ok=True)
        (tmp_path / "exclusions" / f"plastic_{f}_list.txt").write_text(f"plastic_deg000_{f}_01\n")
    args = train_script.parse_args(["--frequencies", "500hz", "1000hz", "--data-root", str(tmp_path),
                                    "--exclusions-file", str(tmp_path / "exclusions" / "plastic_{frequency}_list.txt")])
    configs = train_script.run_configs(args)
    assert [c.frequency for c in configs] == ["500hz", "1000hz"]
    assert [c.exclusions_file.name for c in configs] == ["plastic_500hz_list.txt", "plastic_1000hz_list.txt"]
    assert len({c.run_dir for c in configs}) == 2
    (configs[1].run_dir / "run.json").parent.mkdir(parents=True)
    (configs[1].run_dir / "run.json").write_text("{}")
    with pytest.raises(FileExistsError, match="plastic_1000hz_standard_excl_plastic_1000hz_list"):
        train_script.run_configs(args)  # refused before the 500hz run trains
    args = train_script.parse_args(["--frequencies", "500hz", "1000hz", "--run-name", "same"])
    with pytest.raises(ValueError, match=r"--run-name same would serve every frequency: write \{frequency\}"):
        train_script.run_configs(args)
    pooled = train_script.run_configs(train_script.parse_args(["--frequency", "all", "--data-root", str(tmp_path)]))
    assert [c.frequency for c in pooled] == ["all"]
    with pytest.raises(SystemExit):
        train_script.parse_args(["--frequency", "500hz", "--frequencies", "1000hz"])


@pytest.mark.parametrize("flags, message", [
    (("--epochs", str(10**12)), "--epochs must be a whole number from 1 to 100000"),
    (("--epochs", "0"), "--epochs must be a whole number from 1 to 100000"),
    (("--learning-rate", "nan"), "--learning-rate must be a finite number above 0"),
    (("--learning-rate", "inf"), "--learning-rate must be a finite number above 0"),
    (("--weight-decay", "-1"), "--weight-decay must be a finite number at least 0"),
    (("--ghm-momentum", "1"), "--ghm-momentum must be a finite number at least 0 and below 1"),
    (("--seed", "-3"), "--seed must be a whole number from 0"),
    (("--threads", "0"), "--threads must be at least 1"),
    (("--lock-timeout", "nan"), "--lock-timeout must be a finite number at least 0"),
    (("--resume", "--overwrite"), "pass one of them"),
    (("--batch-size", "1"), "--batch-size 1: each step trains on the pairs among its recordings, and one recording makes "
                            "no pair, so nothing would train: pass --batch-size 2 or more"),
])
def test_bad_flags_are_one_line_before_any_folder(data_root, flags, message, cli, one_error_line):
    before = sorted((data_root / "checkpoints").iterdir())
    code, _, err = cli(train_script, ["--frequency", "500hz", "--data-root", str(data_root), "--run-name", "bad_flags",
                                      "--device", "cpu", "--no-progress", *flags])
    assert code == 1 and message in one_error_line(err, "train.py")
    assert sorted((data_root / "checkpoints").iterdir()) == before  # no run folder, no run.json


def test_an_existing_run_is_refused_before_any_spectrogram(baseline, data_root, cli, one_error_line, monkeypatch):
    import datasets.audio_dataset

    def no_spectrograms(*args, **kwargs):
        raise AssertionError("a spectrogram was computed before the run folder was checked")

    monkeypatch.setattr(datasets.audio_dataset, "spectrogram_and_digest", no_spectrograms)
    code, _, err = cli(train_script, ["--frequency", "500hz", "--data-root", str(data_root), *FAST])
    assert code == 1 and str(baseline) in one_error_line(err, "train.py")
    code, _, err = cli(train_script, ["--frequency", "500hz", "--data-root", str(data_root), "--run-name", "never", "--resume",
                                      *FAST])
    assert code == 1 and "no run to resume" in one_error_line(err, "train.py")


def test_too_few_takes_per_angle_are_named(make_data, tmp_path, cli, one_error_line):
    """One take per angle: no validation split (said so, not 'exclusions remove...'); two: a warning that the
    holdout is empty, then the run."""
    one = make_data(tmp_path / "one", takes=1)
    code, _, err = cli(train_script, ["--frequency", "500hz", "--data-root", str(one), *FAST])
    line = one_error_line(err, "train.py")
    assert code == 1 and "the validation split is empty: with 1 recording(s) per angle" in line and "exclusions" not in line
    assert not (one / "checkpoints").exists()
    two = make_data(tmp_path / "two", takes=2)
    code, out, err = cli(train_script, ["--frequency", "500hz", "--data-root", str(two), *FAST])
    assert code == 0, err
    assert "WARNING: the holdout split is empty: with 2 recordings per angle there is none for it" in err
    assert "NaN" in err


def test_a_run_whose_epoch_would_train_on_nothing_is_refused():
    from training.trainer import check_steps_have_pairs

    check_steps_have_pairs(np.array([0.0, 0.0, 36.0, 36.0] * 3), 4, 30, 0)  # some step of every epoch has a pair
    with pytest.raises(ValueError, match=r"epoch \d+ would train on nothing: each of its 2 step\(s\) of --batch-size 2 "
                                         r"holds recordings of one angle only.*pass a larger --batch-size"):
        check_steps_have_pairs(np.array([0.0, 0.0, 36.0]), 2, 30, 0)


def test_relabel_file_errors_name_the_relabel_file(baseline, data_root, tmp_path, cli, one_error_line):
    args = ["--frequency", "500hz", "--data-root", str(data_root), "--run-name", "never", *FAST]
    missing = tmp_path / "missing_relabel.txt"
    code, _, err = cli(train_script, [*args, "--relabel-file", str(missing)])
    assert code == 1 and one_error_line(err, "train.py") == f"train.py: error: relabel file not found: {missing}"
    code, _, err = cli(train_script, [*args, "--exclusions-file", str(tmp_path)])
    assert code == 1 and f"exclusions file {tmp_path} is a folder" in one_error_line(err, "train.py")
    moved = read(baseline / "run.json")["split"]["train"][0]
    twice = tmp_path / "twice_relabel.txt"
    twice.write_text(f"{moved}  36\n# a comment\n{moved}  72\n")
    code, _, err = cli(train_script, [*args, "--relabel-file", str(twice)])
    line = one_error_line(err, "train.py")
    assert code == 1 and f"names {moved} twice (lines 1 and 3)" in line
    assert not (data_root / "checkpoints" / "never").exists()


def test_seeds_make_the_baselines_and_give_a_verdict(baseline, data_root, cli):
    """--seeds trains each seed's retrain and its missing baseline, reuses a baseline already there, prints the paired
    table and a verdict, and writes it as JSON and a picture."""
    split = read(baseline / "run.json")["split"]
    (data_root / "exclusions").mkdir(exist_ok=True)
    listed = write_exclusions(data_root / "exclusions" / "seeds_list.txt", [split["train"][0]])
    argv = ["--frequency", "500hz", "--data-root", str(data_root), "--exclusions-file", str(listed), "--seeds", "5", "6", *FAST]
    code, out, err = cli(train_script, argv)
    assert code == 0, err
    checkpoints = data_root / "checkpoints"
    for seed in (5, 6):
        assert read(checkpoints / f"plastic_500hz_standard_seed{seed}" / "run.json")["excluded_ids"] == []
        run = read(checkpoints / f"plastic_500hz_standard_excl_seeds_list_seed{seed}" / "run.json")
        assert run["excluded_ids"] == [split["train"][0]] and run["config"]["seed"] == seed
    assert "baseline vs retrain over 2 training seed(s)" in out and "95% interval" in out
    verdict = read(checkpoints / "plastic_500hz_standard_excl_seeds_list_verdict.json")
    assert verdict["seeds"] == [5, 6] and verdict["measures"][0]["verdict"] in ("better", "no measurable change", "worse")
    assert (checkpoints / "plastic_500hz_standard_excl_seeds_list_verdict.png").is_file()
    # A third seed: seeds 5 and 6 (their baselines and retrains) are reused, seed 7 trained, all three judged.
    code, out, err = cli(train_script, [*argv[:-len(FAST) - 3], "--seeds", "5", "6", "7", *FAST])
    assert code == 0, err
    assert out.count("(baseline)") == 1 and out.count("already trained on the same list, reused") == 2
    assert read(checkpoints / "plastic_500hz_standard_excl_seeds_list_verdict.json")["seeds"] == [5, 6, 7]
    # The list changed since: seed 5's run is refused in one line, not silently reused.
    write_exclusions(listed, [split["train"][1]])
    code, _, err = cli(train_script, argv)
    assert code == 1 and "other settings (the exclusions)" in err


def test_a_relabel_file_with_a_list_relabels_its_takes_and_says_so(baseline, data_root, cli):
    """Both files: a take named by both is relabelled and kept, the other listed takes are excluded; train.py prints
    every relabelled take, from which angle to which, and summary.json holds them."""
    split = read(baseline / "run.json")["split"]
    moved = next(s for s in split["train"] if angle_of(s) == 0)
    dropped = next(s for s in split["train"] if angle_of(s) == 36)
    (data_root / "exclusions").mkdir(exist_ok=True)
    listed = write_exclusions(data_root / "exclusions" / "both.txt", [moved, dropped])
    relabel = data_root / "exclusions" / "both_relabel.txt"
    relabel.write_text(f"{moved}  144\n")
    code, out, err = cli(train_script, ["--frequency", "500hz", "--data-root", str(data_root), "--exclusions-file",
                                        str(listed), "--relabel-file", str(relabel), *FAST])
    assert code == 0, err
    run_dir = data_root / "checkpoints" / "plastic_500hz_standard_excl_both_relabel_both_relabel"
    assert read(run_dir / "run.json")["excluded_ids"] == [dropped]
    assert f"relabelled recordings: 1 ({moved}: 0 -> 144)" in out
    assert read(run_dir / "summary.json")["relabelled_recordings"] == {moved: [0, 144]}
    assert "one training seed: no verdict" in out
