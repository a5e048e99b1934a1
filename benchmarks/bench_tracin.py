"""Benchmark: the TracIn engine against its floor (the per-recording gradients alone) and a naive loop.

    python benchmarks/bench_tracin.py                 # makes demo data + a 30-epoch run in a temp folder
    python benchmarks/bench_tracin.py --data-root data/demo --run plastic_500hz_standard
    python benchmarks/bench_tracin.py --takes 24       # twice the recordings, four times the pairs
    python benchmarks/bench_tracin.py --takes 167 --skip end-to-end          # 1,002 recordings
    python benchmarks/bench_tracin.py --takes 167 --model wide --epochs 6 --checkpoint-interval 1

On the same model, checkpoints and recordings, each in its own process (so that peak memory
is its own):
- floor: one gradient per recording used by a training or validation pair, per checkpoint, in
  the fastest form the toolkit has (one batched pass per batch, tracin.per_sample), nothing else;
- engine: TracIn as compute asks for it, from loaded recordings and checkpoints: the gradients
  and Gram matrices, the raw score of every training pair on every validation pair compute
  scores (all of them, or above --max-cells its seeded sample), pair self-influence and the
  recording terms; printed with its phases and as a multiple of the floor;
- naive (up to 1 million pair scores): one torch.autograd.grad per pair per checkpoint, then
  dot products; the maximum relative deviation from the engine's scores;
- end-to-end: what compute_tracin_influence.py does, in one process (load, TracIn, the
  standardised summaries, every file written).
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


def _inputs(data_root: Path, run: str):
    """The run's checkpoints, data set, pairs, model and loss settings, as compute loads them."""
    from datasets import AudioSpectrumDataset
    from influence.compute import load_run_checkpoints, split_pairs
    from influence.config import InfluenceConfig
    from influence.task import loss_for_checkpoint, resolve_loss_settings
    from training.checkpoints import model_from_checkpoint
    from utils.constants import CHECKPOINT_PREFIX, CHECKPOINTS_DIR

    ckdir = data_root / CHECKPOINTS_DIR / run
    cks = load_run_checkpoints(ckdir, CHECKPOINT_PREFIX)
    first = cks[0].data
    ds = AudioSpectrumDataset(first.config.dataset_config(data_root=data_root, exclusions_file=None), progress=False,
                              register=False)
    excluded = set(first.excluded_ids)
    train = split_pairs(ds, first.split["train"], excluded)
    val = split_pairs(ds, first.split["validation"], excluded)
    cfg = InfluenceConfig("500hz", "plastic", str(ckdir), device="cpu", progress=False)
    settings = resolve_loss_settings(first, cfg)
    losses = [loss_for_checkpoint(c.data, settings) for c in cks]
    return cfg, cks, ds, train, val, model_from_checkpoint(first), losses


def floor_seconds(model, inputs, cks, batch_size: int) -> float:
    """The per-recording gradients alone: every checkpoint's weights loaded, one gradient per used
    recording in the fastest form the toolkit has (`tracin.per_sample`, Linear weights as their
    two factors; the autograd loop for other models), nothing kept."""
    from tracin import per_sample
    from tracin.gradients import per_example_gradients

    model = model.eval()
    start = time.perf_counter()
    for ck in cks:
        model.load_state_dict(ck.data.model_state)
        for b in range(0, len(inputs), batch_size):
            if per_sample.supports(model):
                per_sample.batch_gradients(model, inputs[b : b + batch_size])
            else:
                per_example_gradients(model, inputs[b : b + batch_size], batch_size, method="loop")
    return time.perf_counter() - start


def engine_phases(engine, terms, plan, rec_index, keep_dense: bool) -> tuple[dict, np.ndarray | None]:
    """The engine's work after the gradients, as compute asks for it: raw pair scores on the validation
    pairs compute scores (all, or its seeded sample), in blocks; pair self-influence; recording terms."""
    import torch

    from influence.summary import SCORE_BLOCK_BYTES

    seconds = {}
    start = time.perf_counter()
    basis = engine.score_basis(terms, plan.columns)
    n_cols = len(engine.test_local) if plan.columns is None else len(plan.columns)
    step = max(1, SCORE_BLOCK_BYTES // (4 * (n_cols + basis.width)))
    P = len(engine.train_local)
    dense = np.empty((P, n_cols)) if keep_dense else None
    for b in range(0, P, step):
        # (Q', B), the layout influence.summary asks for (the engine's fastest, tracin.pair_scores).
        block = engine.influence_rows(terms, torch.arange(b, min(b + step, P)), plan.columns, transposed=True,
                                      basis=basis)
        if dense is not None:
            dense[b : b + block.shape[1]] = block.T.double().numpy()
    seconds["pair scores"] = time.perf_counter() - start
    start = time.perf_counter()
    engine.pair_self_influence(terms)
    parts = engine.recording_terms(terms, rec_index, plan.columns)
    engine.recording_columns(parts, plan.columns)
    seconds["self-influence, recordings"] = time.perf_counter() - start
    return seconds, dense


def run_method(method: str, data_root: Path, run: str, out: Path) -> dict:
    """Time one method in this process (fresh, so its peak memory is its own); save its matrix to `out`.

    `floor`: the per-recording gradients alone. `engine`: TracIn's work from loaded recordings and
    checkpoints (gradients, Gram matrices, scores; its dense matrix is saved when small). `naive`:
    one autograd call per pair. `end-to-end` is what compute_tracin_influence.py does in-process:
    load, compute, summarise, write every file.
    """
    import torch

    from utils.threads import apply_threads

    apply_threads()  # the scripts' thread policy, so that a busy machine does not decide the ratio
    from utils.allocator import keep_freed_memory

    keep_freed_memory()  # as compute_tracin_influence.py does

    from influence.compute import compute_influence
    from influence.config import InfluenceConfig
    from influence.outputs import plan_outputs
    from influence.task import checkpoint_spec, reference_checkpoint
    from tracin import TracInEngine
    from tracin.reference import naive_tracin
    from utils.constants import CHECKPOINTS_DIR

    if method == "end-to-end":
        cfg = InfluenceConfig("500hz", "plastic", str(data_root / CHECKPOINTS_DIR / run),
                              metadata_dir=str(out.parent / "metadata"), device="cpu", progress=False)
        start = time.perf_counter()
        compute_influence(cfg)
        return {"method": method, "seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb(),
                "baseline_rss_mb": None}
    cfg, cks, ds, train, val, model, losses = _inputs(data_root, run)
    if method in ("floor", "engine"):  # one batch first, so that neither counts the process's first-time costs
        floor_seconds(model, ds.spectrograms[:cfg.batch_size].float(), cks[:1], cfg.batch_size)
    baseline = rss_now_mb()
    result = {"method": method, "baseline_rss_mb": baseline, "recordings": len(ds.sample_ids),
              "checkpoints": len(cks), "parameters": sum(p.numel() for p in model.parameters())}
    start = time.perf_counter()
    matrix = None
    if method == "floor":
        used = torch.unique(torch.cat([train.pairs.reshape(-1), val.pairs.reshape(-1)]))
        result["seconds"] = floor_seconds(model, ds.spectrograms[used].float(), cks, cfg.batch_size)
        result["inputs"] = len(used)
    elif method == "engine":
        engine = TracInEngine(model, ds.spectrograms, train, val, "cpu", torch.float32, cfg.batch_size)
        terms = engine.all_terms([checkpoint_spec(c.data.model_state, c.eta, loss) for c, loss in zip(cks, losses)])
        ds.release_pages()
        result["phases"] = {"gradients and Gram matrices": time.perf_counter() - start}
        plan = plan_outputs(cfg, len(train), len(val), out.parent, False, int(cks[0].data.seed or 0))
        rec_index = torch.unique(train.pairs)
        phases, matrix = engine_phases(engine, terms, plan, rec_index, len(train) * len(val) <= 1_000_000)
        result["phases"].update(phases)
        result["seconds"] = time.perf_counter() - start
        result["cells"] = len(train) * (len(val) if plan.columns is None else len(plan.columns))
    else:
        refs = [reference_checkpoint(model, c.data.model_state, c.eta, loss, ds.spectrograms, train)
                for c, loss in zip(cks, losses)]
        matrix = naive_tracin(model, ds.spectrograms, train, val, refs).double().numpy()
        result["seconds"] = time.perf_counter() - start
    if matrix is not None:
        np.save(out, matrix)
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def prepare(data_root: Path, takes: int, model: str, epochs: int, interval: int) -> str:
    """Clean demo recordings (6 angles x `takes`, 500 Hz) and a training run (default: 30 epochs, checkpoint every 5)."""
    from datasets.demo_data import DemoDataConfig, generate
    from training.config import TrainConfig
    from training.trainer import train

    generate(DemoDataConfig(output_root=data_root, takes=takes))
    result = train(TrainConfig(frequency="500hz", data_root=str(data_root), epochs=epochs, checkpoint_interval=interval,
                               model=model, progress=False))
    return result.run_dir.name


def _run(method: str, data_root: Path, run: str, out: Path) -> dict | None:
    proc = subprocess.run([sys.executable, __file__, "--method", method, "--data-root", str(data_root), "--run", run,
                           "--out", str(out)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return None
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if out.exists():
        result["matrix"] = np.load(out)
    return result


def report(results: dict) -> None:
    """What the benchmark prints: each method's time and memory, the engine as a multiple of the floor."""
    flo, eng = results["floor"], results["engine"]
    print(f"{eng['recordings']} recordings ({flo['inputs']} in training or validation pairs), {eng['checkpoints']} "
          f"checkpoints, {eng['parameters']:,} parameters; {eng['cells']:,} pair scores (float32, CPU)")
    print(f"{'method':<12}{'wall s':>9}{'peak RSS MB':>13}{'above loaded data MB':>22}")
    for r in results.values():
        extra = f"{r['peak_rss_mb'] - r['baseline_rss_mb']:>22.0f}" if r["baseline_rss_mb"] is not None else f"{'-':>22}"
        print(f"{r['method']:<12}{r['seconds']:>9.2f}{r['peak_rss_mb']:>13.0f}{extra}")
    print("engine phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in eng["phases"].items()))
    print(f"engine / floor (the per-recording gradients alone): {eng['seconds'] / flo['seconds']:.2f}x")
    if "naive" in results:
        nai = results["naive"]
        deviation = float(np.abs(eng["matrix"] - nai["matrix"]).max() / np.abs(nai["matrix"]).max())
        print(f"speed-up (naive / engine): {nai['seconds'] / eng['seconds']:.1f}x")
        print(f"peak memory ratio (engine / naive): {eng['peak_rss_mb'] / nai['peak_rss_mb']:.2f}")
        print(f"max relative deviation (engine vs naive): {deviation:.2e}")
    if "end-to-end" in results:
        print(f"end to end in one process (load recordings + checkpoints, TracIn, summaries, write every file): "
              f"{results['end-to-end']['seconds']:.2f} s")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, default=None)
    p.add_argument("--run", default="plastic_500hz_standard")
    p.add_argument("--takes", type=int, default=12, help="takes per angle of the generated recordings")
    p.add_argument("--model", choices=("small", "wide"), default="small", help="the generated run's model")
    p.add_argument("--epochs", type=int, default=30, help="the generated run's epochs")
    p.add_argument("--checkpoint-interval", type=int, default=5, help="the generated run's checkpoint interval")
    p.add_argument("--skip", nargs="*", choices=("naive", "end-to-end"), default=[],
                   help="methods not to run (naive runs only up to 1 million pair scores)")
    p.add_argument("--method", choices=("floor", "engine", "naive", "end-to-end"), help=argparse.SUPPRESS)
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
            print(f"preparing demo recordings (6 angles x {args.takes} takes) and a {args.epochs}-epoch run ...", flush=True)
            args.run = prepare(data_root, args.takes, args.model, args.epochs, args.checkpoint_interval)
        results = {}
        for method in ("floor", "engine", "naive", "end-to-end"):
            if method in args.skip or (method == "naive" and "matrix" not in results["engine"]):
                continue
            results[method] = _run(method, data_root, args.run, tmp / f"{method}.npy")
            if results[method] is None:
                return 1
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
