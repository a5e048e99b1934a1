"""Benchmark: `--help` of each script, each run in a fresh Python process (start-up included).

    python benchmarks/bench_help.py            # 7 runs per script after 1 warm-up
    python benchmarks/bench_help.py --runs 15

The scripts parse their flags before importing torch, so --help should answer in well
under a second. Prints min / median / max wall seconds per script; exits 1 when a median
is 1 s or more.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ("train.py", "compute_tracin_influence.py", "generate_tracin_exclusions.py")
LIMIT_S = 1.0


def time_help(script: str, runs: int, warmup: int = 1) -> list[float]:
    """Wall seconds of `python script --help`, each in a new process, after `warmup` uncounted runs."""
    seconds = []
    for k in range(warmup + runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, script, "--help"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        if k >= warmup:
            seconds.append(time.perf_counter() - start)
    return seconds


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=7, help="timed runs per script (default: 7)")
    args = p.parse_args()
    slow = []
    print(f"{'script --help':<32} {'min':>6} {'median':>7} {'max':>6}  (seconds, {args.runs} fresh processes each)")
    for script in SCRIPTS:
        t = time_help(script, args.runs)
        median = statistics.median(t)
        print(f"{script:<32} {min(t):6.3f} {median:7.3f} {max(t):6.3f}")
        if median >= LIMIT_S:
            slow.append(script)
    if slow:
        print(f"slower than {LIMIT_S:g} s: {', '.join(slow)}")
        return 1
    print(f"every median is under {LIMIT_S:g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
