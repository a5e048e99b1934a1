"""Portable numerics: a process started with them uses ATen's default kernels whatever the machine (or an
ATEN_CPU_CAPABILITY set outside) would choose; the demo records the choice only when it is not the native one."""
from __future__ import annotations

import os
import subprocess
import sys

from pipeline.demo import DemoConfig, config_record
from utils.numerics import PORTABLE, environment

CAPABILITY = "import torch; print(torch.backends.cpu.get_cpu_capability())"


def test_a_portable_process_uses_the_default_kernels_whatever_was_set_outside(monkeypatch):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    env = environment(True)
    assert {k: env[k] for k in PORTABLE} == PORTABLE and environment(False) is None
    out = subprocess.run([sys.executable, "-c", CAPABILITY], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "DEFAULT"
    assert os.environ["ATEN_CPU_CAPABILITY"] == "avx2"  # this process's own environment is left alone


def test_the_demo_records_portable_numerics_and_keeps_older_records_unchanged(tmp_path):
    assert "numerics" not in config_record(DemoConfig(output_dir=tmp_path))
    assert config_record(DemoConfig(output_dir=tmp_path, numerics="portable"))["numerics"] == "portable"
