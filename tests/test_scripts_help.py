"""The scripts' --help answers fast, without importing torch, and shows the defaults; the
config modules and package names import without torch, and the public names still import."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = ("train.py", "compute_tracin_influence.py", "generate_tracin_exclusions.py")


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_does_not_import_torch(script):
    proc = subprocess.run([sys.executable, "-X", "importtime", script, "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line]
    assert imported and not [m for m in imported if m.split(".")[0] == "torch"]
    assert "usage:" in proc.stdout and "(default: " in proc.stdout


def test_config_modules_import_without_torch():
    code = ("import sys, datasets.config, losses.config, training.config, influence.config, exclusion.config; "
            "import datasets, losses, training, influence, exclusion; "
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_public_names_still_import():
    from datasets import AudioSpectrumDataset, DatasetConfig, ManagedDataset, make_pairs
    from losses import loss_from_config
    from models import SimpleCNNAudioRanker, build_model
    from tracin import CheckpointSpec, PairSet, TracInEngine

    assert issubclass(AudioSpectrumDataset, ManagedDataset)
    assert all(callable(x) for x in (DatasetConfig, make_pairs, loss_from_config, SimpleCNNAudioRanker, build_model,
                                     CheckpointSpec, PairSet, TracInEngine))
    with pytest.raises(AttributeError):
        import datasets

        datasets.NoSuchName  # noqa: B018


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_flag_has_help_and_its_default(script, monkeypatch):
    import argparse
    import importlib

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", lambda self, argv=None: self)
    parser = importlib.import_module(script[: -len(".py")]).parse_args([])
    one_of = {a for g in parser._mutually_exclusive_groups if g.required for a in g._group_actions}
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{script} {action.option_strings}: no help text"
        text = formatter._get_help_string(action)
        assert action.required or action in one_of or "default" in text, f"{script} {action.option_strings}: {text}"


def test_train_help_explains_frequency_all_and_frequencies():
    proc = subprocess.run([sys.executable, "train.py", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    text = " ".join(proc.stdout.split())
    assert "'all' pools the three frequencies into ONE model" in text and "--frequencies FREQ [FREQ ...]" in text
    assert "one model per frequency, one after another" in text
