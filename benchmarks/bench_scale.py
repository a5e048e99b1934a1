"""The whole pipeline at a chosen number of recordings: time, peak memory and disk of each step.

    python benchmarks/bench_scale.py --takes 333                  # 2,000 recordings, 30 epochs, 6 checkpoints
    python benchmarks/bench_scale.py --takes 1667 --epochs 6 --checkpoint-interval 1   # 10,000 recordings
    python benchmarks/bench_scale.py --takes 333 --model wide --criteria combined --projection-dims 512 2048 8192
    python benchmarks/bench_scale.py --takes 50 --distributed 2   # torchrun vs one process, float64

Each step is the real command a user runs, in its own process: the demo generator (500 Hz,
plastic, with planted far mislabels), train.py, compute_tracin_influence.py
--compute-influence, and generate_tracin_exclusions.py once per criterion. For each it
prints the wall time, the peak resident memory of the process (from wait4, so its own; under
torchrun the largest single process), the disk used by the run's folder at its largest
(sampled every half second) and the largest file. Then the totals the issue-12 targets are
about (train + TracIn + generate), and how many of the planted mislabels each criterion listed.

--projection-dims measures the CountSketch projection against the exact Gram matrix of the
first checkpoint: the relative Frobenius error of the Gram matrix and of a sample of TracIn
scores, and the time of each. --distributed N runs compute once in one process and once
under `torchrun --nproc-per-node N` (both float64) and prints the largest relative difference
of their scores and both wall times.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from exclusion.config import TUTORIAL_FLAGS  # noqa: E402  (torch-free)
from exclusion.criteria import CRITERIA  # noqa: E402  (torch-free)
from pipeline.demo import faults_at_rate  # noqa: E402
from influence.records import InfluenceRun  # noqa: E402  (torch-free)
from training.config import TrainConfig  # noqa: E402  (torch-free)

MATERIAL, FREQUENCY = "plastic", "500hz"
TARGETS = {2000: (15 * 60, 4.0, 1.0)}  # recordings -> (seconds for train + TracIn + generate, RSS GB, file GB)


@dataclass
class Step:
    name: str
    seconds: float
    peak_rss_gb: float
    disk_peak_gb: float
    largest_file: str
    largest_file_gb: float
    counts_toward_total: bool


def tree_bytes(folder: Path) -> tuple[int, Path | None, int]:
    """(bytes under `folder`, its largest file, that file's bytes); files that vanish meanwhile are skipped."""
    total, largest, largest_size = 0, None, 0
    for dirpath, _, files in os.walk(folder):
        for name in files:
            try:
                size = os.stat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
            total += size
            if size > largest_size:
                largest, largest_size = Path(dirpath) / name, size
    return total, largest, largest_size


class DiskWatch:
    """Largest size of a folder tree while a step runs, sampled every `interval` seconds."""

    def __init__(self, folder: Path, interval: float = 0.5):
        self.folder, self.interval = folder, interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_bytes(self.folder)[0])
            self._stop.wait(self.interval)

    def __enter__(self) -> "DiskWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_bytes(self.folder)[0])


def run_step(name: str, argv: list[str], watch: Path, log_dir: Path, counts: bool = True,
             env: dict[str, str] | None = None) -> Step:
    """Run one command; its wall time, its own peak RSS (wait4), and the disk of `watch` at its largest."""
    log = log_dir / f"{name.replace(' ', '_')}.log"
    print(f"  {name}: {' '.join(argv[1:])[:150]}", flush=True)
    with open(log, "w") as out, DiskWatch(watch) as disk:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log.read_text().strip().splitlines()[-3:]
        sys.exit(f"bench_scale: {name} failed ({proc.returncode}): {' / '.join(tail)} (log: {log})")
    _, largest, largest_size = tree_bytes(watch)
    return Step(name, seconds, usage.ru_maxrss / 2**20, disk.peak / 1e9,
                str(largest.relative_to(watch)) if largest else "-", largest_size / 1e9, counts)


def listed_ids(path: Path) -> list[str]:
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def planted_in_training(truth: Path, metadata: Path) -> tuple[set[str], set[str]]:
    """(planted faults in the training split, those of them that are mislabels)."""
    faults = json.loads(truth.read_text())["faults"]
    records = json.loads(metadata.read_text())
    planted = {sid for sid in faults if records.get(sid, {}).get("split") == "train"}
    return planted, {sid for sid in planted if faults[sid]["kind"].startswith("mislabel")}


def projection_study(root: Path, run_dir: Path, dims: list[int], sample_rows: int) -> dict:
    """Exact vs CountSketch Gram matrix of the first checkpoint, and TracIn on a sample of training pairs."""
    import torch

    from datasets import AudioSpectrumDataset
    from influence.compute import split_pairs
    from influence.config import InfluenceConfig
    from influence.run_inputs import load_run_checkpoints
    from influence.task import checkpoint_spec, loss_for_checkpoint, resolve_loss_settings
    from tracin import TracInEngine
    from training.checkpoints import model_from_checkpoint
    from utils.constants import CHECKPOINT_PREFIX

    torch.set_num_threads(1)
    cks = load_run_checkpoints(run_dir, CHECKPOINT_PREFIX)[:1]
    first = cks[0].data
    ds = AudioSpectrumDataset(first.config.dataset_config(data_root=root, exclusions_file=None), progress=False,
                              register=False)
    excluded = set(first.excluded_ids)
    train = split_pairs(ds, first.split["train"], excluded)
    val = split_pairs(ds, first.split["validation"], excluded)
    model = model_from_checkpoint(first, cks[0].path)
    n_params = sum(p.numel() for p in model.parameters())
    cfg = InfluenceConfig(FREQUENCY, MATERIAL, run_dir, progress=False)
    loss = loss_for_checkpoint(first, resolve_loss_settings(first, cfg))
    spec = [checkpoint_spec(first.model_state, cks[0].eta, loss)]
    rows = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:sample_rows]
    out: dict = {"parameters": n_params, "inputs": None, "sample_pairs": len(rows), "dims": {}}
    exact = None
    for dim in [None, *dims]:
        started = time.perf_counter()
        engine = TracInEngine(model, ds.spectrograms, train, val, "cpu", torch.float64, 32, projection_dim=dim)
        terms = engine.all_terms(spec)
        scores = engine.influence_rows(terms, rows)
        seconds = time.perf_counter() - started
        if dim is None:
            exact = (terms[0].gram, scores)
            out["inputs"] = int(terms[0].gram.shape[0])
            out["exact_seconds"] = round(seconds, 1)
            continue
        gram_err = float(torch.linalg.norm(terms[0].gram - exact[0]) / torch.linalg.norm(exact[0]))
        score_err = float(torch.linalg.norm(scores - exact[1]) / torch.linalg.norm(exact[1]))
        out["dims"][dim] = {"gram_relative_error": gram_err, "score_relative_error": score_err,
                            "seconds": round(seconds, 1)}
        del engine, terms
    return out


def compare_scores(one: Path, many: Path) -> float:
    """Largest relative difference between two influence npz files' arrays (every float array)."""
    import numpy as np

    worst = 0.0
    with np.load(one) as a, np.load(many) as b:
        for key in a.files:
            x, y = a[key], b[key]
            if x.dtype.kind != "f" or x.size == 0:
                continue
            scale = max(float(np.abs(x).max()), 1e-300)
            worst = max(worst, float(np.abs(x - y).max()) / scale)
    return worst


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--takes", type=int, default=333, help="takes per angle (6 angles): 333 is 1,998 recordings")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--checkpoint-interval", type=int, default=5, help="30 epochs every 5: 6 checkpoints")
    p.add_argument("--model", choices=("small", "wide"), default="small")
    p.add_argument("--mislabels", type=int, default=20, help="far mislabels planted (the truth stays outside the data)")
    p.add_argument("--mislabel-rate", type=float, default=None, metavar="R",
                   help="instead of --mislabels: a share R of the takes mislabeled (60%% far, 40%% near) plus one take of "
                   "each other fault kind, as the studies plant them (pipeline.demo.faults_at_rate)")
    p.add_argument("--generator", choices=("demo", "room"), default="demo", help="the simulation the recordings come from")
    p.add_argument("--max-exclusions", type=int, default=30, help="generate's cap (the tutorial's 30)")
    p.add_argument("--criteria", nargs="+", default=list(CRITERIA), choices=CRITERIA)
    p.add_argument("--compute-args", nargs=argparse.REMAINDER, default=[],
                   help="more flags for compute_tracin_influence.py (last on the line)")
    p.add_argument("--projection-dims", nargs="*", type=int, default=[], metavar="K")
    p.add_argument("--projection-sample", type=int, default=2000, help="training pairs scored for the projection error")
    p.add_argument("--distributed", type=int, default=0, metavar="N", help="also compare torchrun with N processes")
    p.add_argument("--output-dir", type=Path, default=None, help="default: a temporary folder, removed at the end")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    p.add_argument("--threads", default="1", help="torch threads of each step (the scripts' --threads)")
    p.add_argument("--projection-only", type=Path, nargs=2, metavar=("ROOT", "RUN_DIR"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.projection_only:
        root, run_dir = args.projection_only
        print(json.dumps(projection_study(root, run_dir, args.projection_dims, args.projection_sample)))
        return 0

    out = args.output_dir or Path(tempfile.mkdtemp(prefix="bench_scale_"))
    out.mkdir(parents=True, exist_ok=True)
    root, logs = out / "data", out / "logs"
    logs.mkdir(exist_ok=True)
    py = sys.executable
    truth = out / "truth.json"
    run_dir = TrainConfig(FREQUENCY, MATERIAL, data_root=root).run_dir
    meta = root / "metadata"
    influence = meta / f"{MATERIAL}_{FREQUENCY}_influence_metadata.json"
    threads = ["--threads", args.threads]
    steps: list[Step] = []
    print(f"bench_scale in {out}", flush=True)
    faults = ([f"mislabel-far={args.mislabels}"] if args.mislabel_rate is None
              else faults_at_rate(args.mislabel_rate, args.takes, 6))
    steps.append(run_step("data", [py, "-m", "datasets.demo_data", "--output-root", str(root), "--materials", MATERIAL,
                                   "--frequencies", FREQUENCY, "--takes", str(args.takes), "--seed", "0", "--generator",
                                   args.generator, "--faults", *faults, "--truth-file", str(truth)], out, logs, False))
    steps.append(run_step("train", [py, "train.py", "--frequency", FREQUENCY, "--material", MATERIAL, "--data-root",
                                    str(root), "--epochs", str(args.epochs), "--checkpoint-interval",
                                    str(args.checkpoint_interval), "--model", args.model, "--no-progress", *threads],
                          out, logs))
    compute = [py, "compute_tracin_influence.py", "--frequency", FREQUENCY, "--material", MATERIAL, "--checkpoint-dir",
               str(run_dir), "--checkpoint-prefix", "model_checkpoint_epoch", "--metadata-dir", str(meta),
               "--compute-influence", "--no-progress", *threads]
    steps.append(run_step("tracin", compute + args.compute_args, out, logs))
    caught: dict[str, tuple[int, int, int, int]] = {}
    planted, mislabeled = planted_in_training(truth, meta / f"{MATERIAL}_{FREQUENCY}_metadata.json")
    for criterion in args.criteria:
        listing = out / "exclusions" / f"{criterion}.txt"
        steps.append(run_step(f"generate {criterion}", [
            py, "generate_tracin_exclusions.py", "--metadata-file", str(influence), "--output-file", str(listing),
            *TUTORIAL_FLAGS, "--max-exclusions", str(args.max_exclusions),  # the tutorial's flags, its cap replaced
            "--criterion", criterion], out, logs))
        ids = set(listed_ids(listing))
        caught[criterion] = (len(ids), len(mislabeled), len(mislabeled & ids), len(planted & ids))

    run_info = InfluenceRun.read(meta / f"{MATERIAL}_{FREQUENCY}_influence_run.json")
    summary = run_info.summary.to_dict() if run_info.summary is not None else {}
    recordings = sum(1 for _ in root.glob("deg*/*/*.wav"))
    print(f"\n{recordings} recordings; {summary.get('train_pairs', '?'):,} training pairs x "
          f"{summary.get('validation_pairs', '?'):,} validation pairs; model {args.model}; "
          f"{args.epochs} epochs, checkpoint every {args.checkpoint_interval}; "
          f"validation pairs scored: {run_info.validation_pairs_scored}")
    print(f"{'step':<26}{'wall s':>9}{'peak RSS GB':>13}{'disk peak GB':>14}  largest file")
    for s in steps:
        print(f"{s.name:<26}{s.seconds:>9.1f}{s.peak_rss_gb:>13.2f}{s.disk_peak_gb:>14.2f}  "
              f"{s.largest_file} ({s.largest_file_gb:.3f} GB)")
    counted = [s for s in steps if s.counts_toward_total]
    total = sum(s.seconds for s in counted)
    rss = max(s.peak_rss_gb for s in counted)
    largest = max(s.largest_file_gb for s in steps)
    print(f"train + TracIn + generate ({len(args.criteria)} criteria): {total:.0f} s, peak RSS {rss:.2f} GB, "
          f"largest file {largest:.3f} GB")
    target = TARGETS.get(round(recordings, -3))
    if target and args.model == "small" and len(args.criteria) == len(CRITERIA):  # the configuration
        ok = total <= target[0] and rss <= target[1] and largest <= target[2]
        print(f"issue-12 target at {round(recordings, -3):,} recordings: <= {target[0]} s, <= {target[1]} GB RSS, "
              f"files <= {target[2]} GB: {'met' if ok else 'NOT met'}")
    print(f"planted faults in training: {len(planted)}, of them mislabeled {len(mislabeled)}; cap {args.max_exclusions}")
    for criterion, (n, total_mislabeled, hit, right) in caught.items():
        print(f"  {criterion:<15} listed {n:>3}; mislabels caught {hit}/{total_mislabeled} (recall "
              f"{hit / max(total_mislabeled, 1):.2f}); precision {right / max(n, 1):.2f}"
              + ("; at the cap" if n >= args.max_exclusions else ""))
    results = {"recordings": recordings, "args": {k: str(v) for k, v in vars(args).items()},
               "steps": [asdict(s) for s in steps], "caught": caught, "summary": summary}

    if args.projection_dims:
        print("\nprojection (CountSketch) against the exact Gram matrix, first checkpoint, float64:", flush=True)
        with DiskWatch(out):
            started = time.perf_counter()
            proc = subprocess.Popen([py, __file__, "--projection-only", str(root), str(run_dir), "--projection-dims",
                                     *map(str, args.projection_dims), "--projection-sample",
                                     str(args.projection_sample)], cwd=REPO, stdout=subprocess.PIPE, text=True)
            text = proc.stdout.read()
            _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit("bench_scale: the projection study failed")
        study = json.loads(text.strip().splitlines()[-1])
        print(f"  {study['parameters']:,} parameters, {study['inputs']} recordings, exact Gram + "
              f"{study['sample_pairs']} training pairs' scores in {study['exact_seconds']} s; "
              f"peak RSS {usage.ru_maxrss / 2**20:.2f} GB, {time.perf_counter() - started:.0f} s in all")
        print(f"  {'k':>6}{'Gram rel. error':>17}{'score rel. error':>18}{'seconds':>9}")
        for dim, r in study["dims"].items():
            print(f"  {dim:>6}{r['gram_relative_error']:>17.4f}{r['score_relative_error']:>18.4f}{r['seconds']:>9.1f}")
        results["projection"] = study

    if args.distributed:
        print(f"\ntorchrun --nproc-per-node {args.distributed} against one process (float64):", flush=True)
        pair = {}
        for name, launcher in (("one process", [py]),
                               (f"torchrun x{args.distributed}", [py, "-m", "torch.distributed.run", "--standalone",
                                                                  "--nproc-per-node", str(args.distributed)])):
            folder = out / f"meta_{name.split()[0]}"
            argv = launcher + [str(folder) if a == str(meta) else a for a in compute[1:]] + ["--double-precision"]
            step = run_step(name, argv, out, logs, False)
            pair[name] = (step, folder / f"{MATERIAL}_{FREQUENCY}_influence_matrix.npz")
            print(f"  {name:<14} {step.seconds:7.1f} s, peak RSS per process {step.peak_rss_gb:.2f} GB")
        (_, a), (_, b) = pair.values()
        diff = compare_scores(a, b)
        print(f"  largest relative difference over every array of the influence files: {diff:.2e}")
        results["distributed"] = {"processes": args.distributed, "relative_difference": diff,
                                  **{k: v[0].seconds for k, v in pair.items()}}

    (out / "bench_scale.json").write_text(json.dumps(results, indent=2, default=str))
    if args.output_dir is None and not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    else:
        print(f"\nresults: {out / 'bench_scale.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
