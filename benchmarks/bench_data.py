"""Benchmark: generating the demo recordings and loading them (cold, then from the cache).

    python benchmarks/bench_data.py            # 6 angles x 12 takes at 500 Hz in a temp folder
    python benchmarks/bench_data.py --takes 50
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datasets import AudioSpectrumDataset, DatasetConfig  # noqa: E402
from datasets.demo_data import DemoDataConfig, generate  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--takes", type=int, default=12)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "demo"
        start = time.perf_counter()
        generate(DemoDataConfig(output_root=root, takes=args.takes, mislabel=5, clip=2))
        t_gen = time.perf_counter() - start
        timings = []
        for _ in range(3):
            start = time.perf_counter()
            ds = AudioSpectrumDataset(DatasetConfig(root), progress=False)
            timings.append(time.perf_counter() - start)
        n = len(ds.sample_ids)
        print(f"recordings: {n} (6 angles x {args.takes} takes, 500 Hz, 1 s, 48 kHz)")
        print(f"generate:                 {t_gen:6.2f} s  (goal: under 10 s for 72)")
        print(f"load, cold (STFT + cache): {timings[0]:6.2f} s")
        print(f"load, from the cache:      {min(timings[1:]):6.2f} s  (goal: under 2 s for 72)")
        print(f"spectrograms in memory:    {ds.spectrograms.numel() * 4 / 2**20:6.1f} MB, shape {tuple(ds.spectrograms.shape)}")
        print(f"peak RSS:                  {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:6.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
