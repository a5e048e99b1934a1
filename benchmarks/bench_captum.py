"""Benchmark: the TracIn engine and compute_tracin_influence.py against Captum's TracInCP, on the same pairs.

    pip install -r benchmarks/requirements-bench.txt -c constraints.txt   # Captum, for this benchmark only
    python benchmarks/bench_captum.py                   # demo recordings and a 30-epoch run in a temp folder
    python benchmarks/bench_captum.py --repeats 3 --data-root data/demo --run plastic_500hz_standard

Every training pair x every validation pair (540 x 135 on the demo's 72 recordings), every
checkpoint (30: one per epoch), float32, on the CPU with --threads torch threads. Each repeat
times, back to back in this process:

- engine: the checkpoints read from their files, then `TracInEngine` (one gradient per recording
  per checkpoint, Gram matrices, scores), the (P, Q) matrix of raw TracIn;
- Captum: `captum.influence.TracInCP` on the same model, checkpoints (with their learning rates)
  and pairs: a pair model s = f(x_i) - f(x_j), the run's training loss on the training side, the
  margin measurement -y s on the validation side (what the engine scores by default);
- script: compute_tracin_influence.py --compute-influence end to end, in its own process
  (imports, loading, TracIn, every file written).

It prints each repeat's wall and CPU seconds and the ratios (Captum / engine, Captum / script),
then their medians, and the largest relative difference between Captum's and the engine's scores.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CAPTUM_BATCH = 4  # training pairs per Captum batch: the fastest of 1, 4, 16 and 64 on this model (each per-pair gradient
# is a backward pass through the whole batch's graph, so larger batches cost more)
sys.path.insert(0, str(ROOT))


def prepare(data_root: Path, takes: int) -> str:
    """Demo recordings (6 angles x `takes`, 500 Hz) and a 30-epoch run with a checkpoint every epoch."""
    from datasets.demo_data import DemoDataConfig, generate
    from training.config import TrainConfig
    from training.trainer import train

    generate(DemoDataConfig(output_root=data_root, takes=takes))
    return train(TrainConfig(frequency="500hz", data_root=str(data_root), progress=False)).run_dir.name


def load_inputs(data_root: Path, run: str):
    """The run's checkpoint files, spectrograms and training / validation pairs."""
    from datasets import AudioSpectrumDataset
    from influence.compute import split_pairs
    from training.checkpoints import list_checkpoints, load_checkpoint
    from utils.constants import CHECKPOINT_PREFIX, CHECKPOINTS_DIR

    paths = [p for _, p in list_checkpoints(data_root / CHECKPOINTS_DIR / run, CHECKPOINT_PREFIX)]
    first = load_checkpoint(paths[0])
    ds = AudioSpectrumDataset(first.config.dataset_config(data_root=data_root, exclusions_file=None), progress=False,
                              register=False)
    excluded = set(first.excluded_ids)
    train = split_pairs(ds, first.split["train"], excluded)
    val = split_pairs(ds, first.split["validation"], excluded)
    return paths, ds.spectrograms.clone().float(), train, val


def engine_scores(paths: list[Path], inputs, train, val) -> np.ndarray:
    """Raw TracIn (P, Q) by the engine, the checkpoints read from their files."""
    import torch

    from influence.config import InfluenceConfig
    from influence.task import checkpoint_spec, loss_for_checkpoint, resolve_loss_settings
    from tracin import TracInEngine
    from training.checkpoints import load_checkpoint, model_from_checkpoint

    cks = [load_checkpoint(p) for p in paths]
    settings = resolve_loss_settings(cks[0], InfluenceConfig("500hz", "plastic", paths[0].parent))
    specs = [checkpoint_spec(c.model_state, c.learning_rate, loss_for_checkpoint(c, settings)) for c in cks]
    engine = TracInEngine(model_from_checkpoint(cks[0]), inputs, train, val, "cpu", torch.float32)
    return engine.influence_matrix(engine.all_terms(specs)).double().numpy()


def captum_scores(paths: list[Path], inputs, train, val) -> np.ndarray:
    """Raw TracIn (P, Q) by Captum's TracInCP on the same pairs, checkpoints and learning rates."""
    import torch
    from captum.influence import TracInCP
    from torch.utils.data import TensorDataset

    from influence.config import InfluenceConfig
    from influence.task import loss_for_checkpoint, resolve_loss_settings
    from training.checkpoints import load_checkpoint, model_from_checkpoint

    first = load_checkpoint(paths[0])
    settings = resolve_loss_settings(first, InfluenceConfig("500hz", "plastic", paths[0].parent))
    if settings.loss_type != "standard":  # GHM weighs each pair by the whole set: no per-pair loss for Captum
        raise SystemExit(f"bench_captum: the run was trained with the {settings.loss_type} loss; use a standard one")
    loss = loss_for_checkpoint(first, settings)

    class PairModel(torch.nn.Module):
        def __init__(self, ranker: torch.nn.Module):
            super().__init__()
            self.ranker = ranker

        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return self.ranker(a) - self.ranker(b)

    class PairLoss(torch.nn.Module):
        """The run's training loss per pair (Captum differentiates it on the training side)."""

        reduction = "none"

        def forward(self, margin: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return loss.base_losses(margin, target)

    class Margin(torch.nn.Module):
        """The margin measurement -y s (the engine's default validation side)."""

        reduction = "none"

        def forward(self, margin: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return -target * margin

    read: dict[str, tuple[dict, float]] = {}

    def load(model: torch.nn.Module, path: str) -> float:
        # Captum calls this for every checkpoint and every training batch: each file is read once.
        if path not in read:
            ck = load_checkpoint(Path(path))
            read[path] = (ck.model_state, float(ck.learning_rate))
        state, lr = read[path]
        model.ranker.load_state_dict(state)
        return lr

    model = PairModel(model_from_checkpoint(first)).eval()
    tp, vp = train.pairs, val.pairs
    dataset = TensorDataset(inputs[tp[:, 0]], inputs[tp[:, 1]], train.targets.float())
    tracin = TracInCP(model, dataset, [str(p) for p in paths], checkpoints_load_func=load, loss_fn=PairLoss(),
                      test_loss_fn=Margin(), batch_size=CAPTUM_BATCH, sample_wise_grads_per_batch=False)
    scores = tracin.influence((inputs[vp[:, 0]], inputs[vp[:, 1]], val.targets.float()))  # (Q, P)
    return scores.T.double().numpy()


def timed(fn, *args):
    """(result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def script_seconds(data_root: Path, run: str, threads: str, meta: Path) -> tuple[float, float]:
    """compute_tracin_influence.py end to end in its own process: (wall, CPU seconds)."""
    from utils.constants import CHECKPOINTS_DIR

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "compute_tracin_influence.py"), "--frequency", "500hz", "--checkpoint-dir",
                    str(data_root / CHECKPOINTS_DIR / run), "--metadata-dir", str(meta), "--compute-influence",
                    "--no-progress", "--threads", threads], check=True, capture_output=True, cwd=ROOT)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, default=None)
    p.add_argument("--run", default="plastic_500hz_standard")
    p.add_argument("--takes", type=int, default=12, help="takes per angle of the generated recordings")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", default="1", help="torch threads (the scripts' --threads)")
    args = p.parse_args()
    from utils.threads import apply_threads

    apply_threads(args.threads)
    from utils.allocator import keep_freed_memory

    keep_freed_memory()  # as compute_tracin_influence.py does; Captum shares the process and gets it too
    with tempfile.TemporaryDirectory() as tmp:
        data_root = args.data_root
        if data_root is None:
            data_root = Path(tmp) / "demo"
            print(f"preparing demo recordings (6 angles x {args.takes} takes) and a 30-epoch run ...", flush=True)
            args.run = prepare(data_root, args.takes)
        paths, inputs, train, val = load_inputs(data_root, args.run)
        print(f"{len(train)} training pairs x {len(val)} validation pairs, {len(paths)} checkpoints, float32, "
              f"{args.threads} thread(s)", flush=True)
        rows = []
        for r in range(args.repeats):
            engine, e_wall, e_cpu = timed(engine_scores, paths, inputs, train, val)
            captum, c_wall, c_cpu = timed(captum_scores, paths, inputs, train, val)
            s_wall, s_cpu = script_seconds(data_root, args.run, args.threads, Path(tmp) / f"meta{r}")
            deviation = float(np.abs(engine - captum).max() / np.abs(captum).max())
            rows.append((e_wall, e_cpu, c_wall, c_cpu, s_wall, s_cpu, deviation))
            print(f"repeat {r + 1}: engine {e_wall:.2f} s ({e_cpu:.2f} CPU s), Captum {c_wall:.1f} s ({c_cpu:.1f} CPU s), "
                  f"script {s_wall:.2f} s ({s_cpu:.2f} CPU s); Captum / engine {c_wall / e_wall:.1f}x "
                  f"({c_cpu / e_cpu:.1f}x CPU), Captum / script {c_wall / s_wall:.1f}x ({c_cpu / s_cpu:.1f}x CPU); "
                  f"max relative difference {deviation:.1e}", flush=True)
    med = [statistics.median(col) for col in zip(*rows)]
    ratios = [statistics.median(r[2] / r[0] for r in rows), statistics.median(r[3] / r[1] for r in rows),
              statistics.median(r[2] / r[4] for r in rows), statistics.median(r[3] / r[5] for r in rows)]
    print(f"median of {len(rows)}: engine {med[0]:.2f} s ({med[1]:.2f} CPU s), Captum {med[2]:.1f} s ({med[3]:.1f} CPU s), "
          f"script {med[4]:.2f} s ({med[5]:.2f} CPU s)")
    print(f"median ratios: Captum / engine {ratios[0]:.1f}x wall, {ratios[1]:.1f}x CPU; Captum / script "
          f"{ratios[2]:.1f}x wall, {ratios[3]:.1f}x CPU; max relative difference {max(r[6] for r in rows):.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
