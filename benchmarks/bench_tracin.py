"""Benchmark: the TracIn engine against a naive autograd loop, on the demo recordings.

    python benchmarks/bench_tracin.py                 # makes demo data + a 30-epoch run in a temp folder
    python benchmarks/bench_tracin.py --data-root data/demo --run plastic_500hz_standard
    python benchmarks/bench_tracin.py --takes 24       # twice the recordings, four times the pairs

Scores all training pairs x all validation pairs over every checkpoint, both ways:
- engine: one gradient per recording per checkpoint (torch.func), Gram matrix, indexing;
- naive: one torch.autograd.grad per pair per checkpoint, then dot products.
Each method runs in its own process so that peak memory (max RSS) is its own. Prints wall
time, peak memory, their ratio, and the maximum relative deviation between the results.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _status_mb(field: str) -> float:
    """A memory line of /proc/self/status in MB (VmHWM: peak resident, VmRSS: resident now).

    Not getrusage: Linux carries ru_maxrss across fork and exec, so a child would report
    its parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def peak_rss_mb() -> float:
    return _status_mb("VmHWM")


def rss_now_mb() -> float:
    return _status_mb("VmRSS")


def run_method(method: str, data_root: Path, run: str, out: Path) -> dict:
    """Time one method in this process (fresh, so its peak memory is its own); save its matrix to `out`.

    `engine` and `naive` both start from loaded recordings and checkpoints; `end-to-end` is
    what compute_tracin_influence.py does: load, compute, write JSON + npz + metadata (its
    scores are not compared: above 1 million cells compute writes no dense matrix).
    """
    import torch

    from utils.threads import apply_threads

    apply_threads()  # the scripts' thread policy, so that a busy machine does not decide the ratio

    from datasets import AudioSpectrumDataset
    from influence.compute import compute_influence, load_run_checkpoints, split_pairs
    from influence.config import InfluenceConfig
    from influence.task import checkpoint_spec, loss_for_checkpoint, reference_checkpoint, resolve_loss_settings
    from tracin import TracInEngine
    from tracin.reference import naive_tracin
    from training.checkpoints import model_from_checkpoint
    from utils.constants import CHECKPOINT_PREFIX, CHECKPOINTS_DIR

    ckdir = data_root / CHECKPOINTS_DIR / run
    cfg = InfluenceConfig("500hz", "plastic", str(ckdir), metadata_dir=str(out.parent / "metadata"), device="cpu",
                          progress=False)
    if method == "end-to-end":
        start = time.perf_counter()
        compute_influence(cfg)
        seconds = time.perf_counter() - start
        return {"method": method, "seconds": seconds, "peak_rss_mb": peak_rss_mb(), "baseline_rss_mb": None}
    cks = load_run_checkpoints(ckdir, CHECKPOINT_PREFIX)
    first = cks[0].data
    ds = AudioSpectrumDataset(first.config.dataset_config(data_root=data_root, exclusions_file=None), progress=False,
                              register=False)
    excluded = set(first.excluded_ids)
    train = split_pairs(ds, first.split["train"], excluded)
    val = split_pairs(ds, first.split["validation"], excluded)
    model = model_from_checkpoint(first)
    settings = resolve_loss_settings(first, cfg)
    losses = [loss_for_checkpoint(c.data, settings) for c in cks]
    baseline = rss_now_mb()
    start = time.perf_counter()
    if method == "engine":
        engine = TracInEngine(model, ds.spectrograms, train, val, "cpu", torch.float32, 32)
        terms = engine.all_terms([checkpoint_spec(c.data.model_state, c.eta, loss) for c, loss in zip(cks, losses)])
        matrix = engine.influence_matrix(terms).double().numpy()
        engine.pair_self_influence(terms)
        engine.recording_influence(terms, torch.unique(train.pairs))
    else:
        refs = [reference_checkpoint(model, c.data.model_state, c.eta, loss, ds.spectrograms, train)
                for c, loss in zip(cks, losses)]
        matrix = naive_tracin(model, ds.spectrograms, train, val, refs).double().numpy()
    seconds = time.perf_counter() - start
    np.save(out, matrix)
    return {"method": method, "seconds": seconds, "peak_rss_mb": peak_rss_mb(), "baseline_rss_mb": baseline}


def prepare(data_root: Path, takes: int) -> str:
    """Clean demo recordings (6 angles x 12 takes, 500 Hz) and a 30-epoch run, checkpoint every 5."""
    from datasets.demo_data import DemoDataConfig, generate
    from training.config import TrainConfig
    from training.trainer import train

    generate(DemoDataConfig(output_root=data_root, takes=takes))
    result = train(TrainConfig(frequency="500hz", data_root=str(data_root), epochs=30, checkpoint_interval=5, progress=False))
    return result.run_dir.name


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, default=None)
    p.add_argument("--run", default="plastic_500hz_standard")
    p.add_argument("--takes", type=int, default=12, help="takes per angle of the generated recordings")
    p.add_argument("--method", choices=("engine", "naive", "end-to-end"), help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.method:
        print(json.dumps(run_method(args.method, args.data_root, args.run, args.out)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data_root = args.data_root
        if data_root is None:
            data_root = tmp / "demo"
            print(f"preparing demo recordings (6 angles x {args.takes} takes) and a 30-epoch run ...", flush=True)
            args.run = prepare(data_root, args.takes)
        results = {}
        for method in ("engine", "naive", "end-to-end"):
            out = tmp / f"{method}.npy"
            proc = subprocess.run(
                [sys.executable, __file__, "--method", method, "--data-root", str(data_root), "--run", args.run, "--out", str(out)],
                capture_output=True, text=True, check=False,
            )
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return 1
            results[method] = json.loads(proc.stdout.strip().splitlines()[-1])
            if out.exists():
                results[method]["matrix"] = np.load(out)
    eng, nai, e2e = results["engine"], results["naive"], results["end-to-end"]
    deviation = float(np.abs(eng["matrix"] - nai["matrix"]).max() / np.abs(nai["matrix"]).max())
    shape = eng["matrix"].shape
    print(f"scores: {shape[0]} training pairs x {shape[1]} validation pairs, every checkpoint (float32, CPU)")
    print(f"{'method':<12}{'wall s':>9}{'peak RSS MB':>13}{'above loaded data MB':>22}")
    for r in (eng, nai, e2e):
        extra = f"{r['peak_rss_mb'] - r['baseline_rss_mb']:>22.0f}" if r["baseline_rss_mb"] is not None else f"{'-':>22}"
        print(f"{r['method']:<12}{r['seconds']:>9.2f}{r['peak_rss_mb']:>13.0f}{extra}")
    print(f"speed-up (naive / engine): {nai['seconds'] / eng['seconds']:.1f}x")
    print(f"peak memory ratio (engine / naive): {eng['peak_rss_mb'] / nai['peak_rss_mb']:.2f}")
    print(f"max relative deviation (engine vs naive): {deviation:.2e}")
    print(f"end to end (load recordings + checkpoints, TracIn, write JSON + npz + metadata): {e2e['seconds']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
