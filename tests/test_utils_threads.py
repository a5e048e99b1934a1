"""The CPU thread policy: `--threads N` or auto (1), applied to torch and exported to subprocesses."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from utils.threads import AUTO_THREADS, THREADS_ENV, apply_threads, parse_threads, resolve_threads

VARIABLES = (THREADS_ENV, "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def test_parse_and_resolve(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert parse_threads("auto") == "auto" and parse_threads(" 3 ") == 3
    assert resolve_threads("auto") == AUTO_THREADS == 1 and resolve_threads(None) == 1 and resolve_threads(4) == 4
    monkeypatch.setenv(THREADS_ENV, "2")
    assert resolve_threads(None) == 2
    for bad, message in (("0", "at least 1"), ("two", "positive whole number")):
        with pytest.raises(ValueError, match=message):
            parse_threads(bad)


def test_applied_here_and_inherited_by_subprocesses(monkeypatch):
    for name in VARIABLES:
        monkeypatch.setenv(name, "1")  # restored after the test
    try:
        assert apply_threads("2") == 2 and torch.get_num_threads() == 2
        out = subprocess.run([sys.executable, "-c", "import os, torch; print(os.environ['SINETONE_THREADS'],"
                              " os.environ['OMP_NUM_THREADS'], torch.get_num_threads())"],
                             capture_output=True, text=True, check=True).stdout.split()
        assert out == ["2", "2", "2"]
    finally:
        torch.set_num_threads(1)
