"""The demo pipeline on a busy machine: timed idle, then beside CPU-bound background processes.

    python benchmarks/bench_load.py                # quick demo (--no-compare --no-controls), 2 busy processes
    python benchmarks/bench_load.py --full         # the whole demo, as `make demo` runs it
    python benchmarks/bench_load.py --threads 2    # the demo's steps with 2 threads each (default: auto)

Each run writes into a fresh temporary folder. Prints the idle and loaded wall times and
their ratio (the target of issue 11: loaded <= 2 x idle), each step's times, and the CPU
seconds the demo's processes used: when they do not change under load, the demo wastes
nothing on oversubscription and only waits for its share of the cores. For scale, the same
ratio of a single-threaded Python loop, timed just before each run: on a shared machine no
single-threaded program does better than it. The busy processes are plain Python loops,
started after the idle run and killed after the loaded one.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from utils.threads import available_cores, resolve_threads  # noqa: E402

BUSY_LOOP = "while True: pass"


def reference_loop(n: int = 20_000_000) -> float:
    """Seconds of a single-threaded Python loop: what one core-share is worth right now."""
    started = time.perf_counter()
    total = 0
    for i in range(n):
        total += i
    return time.perf_counter() - started


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_demo(threads: str, full: bool, seed: int) -> tuple[float, float, dict[str, float]]:
    """Wall and CPU seconds of the whole demo, and the wall seconds of each step (from its results.json)."""
    cpu_before = children_cpu()
    with tempfile.TemporaryDirectory(prefix="bench_load_") as out:
        argv = [sys.executable, "-m", "pipeline.demo", "--output-dir", out, "--seed", str(seed), "--threads", threads]
        if not full:
            argv += ["--no-compare", "--no-controls"]
        started = time.perf_counter()
        proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(f"bench_load: the demo failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
        steps = json.loads((Path(out) / f"seed_{seed}" / "results.json").read_text())["step_seconds"]
    return seconds, children_cpu() - cpu_before, steps


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default="auto", help="--threads of the demo and its steps (default: auto)")
    p.add_argument("--busy", type=int, default=2, help="CPU-bound background processes (default: 2)")
    p.add_argument("--full", action="store_true", help="the whole demo instead of the quick form")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    form = "make demo (python -m pipeline.demo)" if args.full else "python -m pipeline.demo --no-compare --no-controls"
    print(f"{form}; --threads {args.threads} = {resolve_threads(args.threads)} thread(s) per step;"
          f" {available_cores()} cores available, load average {os.getloadavg()[0]:.2f} before the start", flush=True)
    ref_idle = reference_loop()
    idle, idle_cpu, idle_steps = run_demo(args.threads, args.full, args.seed)
    print(f"idle: {idle:.1f} s ({idle_cpu:.1f} CPU s)", flush=True)
    busy = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(args.busy)]
    try:
        time.sleep(0.5)
        ref_loaded = reference_loop()
        loaded, loaded_cpu, loaded_steps = run_demo(args.threads, args.full, args.seed)
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
    print(f"with {args.busy} CPU-bound background processes: {loaded:.1f} s ({loaded_cpu:.1f} CPU s)")
    for step, seconds in idle_steps.items():
        print(f"  {step}: {seconds:.1f} s idle, {loaded_steps.get(step, float('nan')):.1f} s loaded")
    print(f"ratio loaded / idle: {loaded / idle:.2f} (target: <= 2); a single-threaded Python loop at the same"
          f" times: {ref_loaded / ref_idle:.2f} ({ref_idle:.2f} s -> {ref_loaded:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
