"""keep_freed_memory: glibc accepts the settings (this project runs on glibc Linux)."""
from __future__ import annotations

import subprocess
import sys


def test_glibc_accepts_the_settings_in_a_fresh_process():
    code = "from utils.allocator import keep_freed_memory; print(keep_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=__file__.rsplit("/tests/", 1)[0])
    assert out.stdout.strip() == "True"
