"""The demo over several seeds (new recordings, faults, split and training each time),
with every figure as mean +- standard deviation. One seed proves nothing.

    python -m pipeline.multi_seed --seeds 0 1 2
    make demo-seeds SEEDS="0 1 2 3 4"
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.demo import StepFailed, add_demo_args, demo_config, run_demo
from pipeline.report import fmt, list_label, run_label
from utils.atomic_io import json_safe, read_json, write_json_atomic, write_text_atomic
from utils.cli import make_parser, run_cli, setup_logging
from utils.figures import plt, save_figure


def mean_std(values: list[float]) -> tuple[float, float]:
    v = np.asarray([x for x in values if x is not None and not np.isnan(x)], dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def pm(values: list[float], digits: int = 3) -> str:
    m, s = mean_std(values)
    return f"{fmt(m, digits)} ± {fmt(s, digits)}"


def aggregate(all_results: list[dict[str, Any]]) -> tuple[list[str], dict[str, Any]]:
    """Markdown lines and a JSON-able summary across seeds."""
    criterion = all_results[0]["config"]["criterion"]
    main = f"tracin_{criterion}"
    det = [r["detection"][criterion] for r in all_results]
    ho = {k: [r["holdout"][k] for r in all_results] for k in all_results[0]["holdout"]}
    gain = [r["holdout"][main]["clean_pairwise_accuracy"] - r["holdout"]["baseline"]["clean_pairwise_accuracy"] for r in all_results]
    mis_recall = [d["mislabeled_recall"] for d in det]
    limit_ok = [d["listed"] <= 2 * d["planted_in_train"] for d in det]
    summary = {
        "seeds": [r["seed"] for r in all_results],
        "criterion": criterion,
        "mislabeled_recall_mean": mean_std(mis_recall)[0],
        "clean_accuracy_gain_mean": mean_std(gain)[0],
        "seeds_not_worse": int(sum(g >= 0 for g in gain)),
        "lists_within_twice_planted": int(sum(limit_ok)),
    }
    seeds = ", ".join(str(s) for s in summary["seeds"])
    lines = [
        f"# TracIn demo over {len(all_results)} seeds ({seeds})",
        "",
        f"Main list: `--criterion {criterion}`. Figures are mean ± standard deviation across seeds. Each seed draws new "
        "recordings, new planted faults, a new split and a new training run. Accuracy is measured on holdout pairs "
        "that contain no planted fault; TracIn never sees the holdout.",
        "",
        "## Verdict",
        "",
        f"- planted mislabeled training recordings caught: {pm(mis_recall, 2)} (target: at least 0.80 on average) -> "
        f"{'met' if summary['mislabeled_recall_mean'] >= 0.8 else 'NOT met'}",
        f"- clean-holdout accuracy, retrain minus baseline: {pm(gain)}; not worse in {summary['seeds_not_worse']} of "
        f"{len(gain)} seeds -> {'met' if summary['clean_accuracy_gain_mean'] >= 0 else 'NOT met'} on average",
        f"- list no longer than twice the planted faults in the training split: {sum(limit_ok)} of {len(limit_ok)} seeds",
        "",
        "## Detection (planted faults in the training split)",
        "",
        "| list | length | mislabeled recall | recall (all faults) | precision |",
        "|---|---|---|---|---|",
    ]
    for key in all_results[0]["detection"]:
        d = [r["detection"][key] for r in all_results]
        lines.append(f"| {list_label(key)} | {pm([x['listed'] for x in d], 1)} | {pm([x['mislabeled_recall'] for x in d], 2)} | "
                     f"{pm([x['recall'] for x in d], 2)} | {pm([x['precision'] for x in d], 2)} |")
    lines += [
        "",
        "## Holdout ranking quality",
        "",
        "| model | clean pairwise acc. | clean Spearman | all pairwise acc. | all Spearman |",
        "|---|---|---|---|---|",
    ]
    order = ["baseline", main, "random", "oracle"] + sorted(k for k in ho if k.startswith("tracin_") and k != main)
    for key in [k for k in order if k in ho]:
        h = ho[key]
        lines.append(f"| {run_label(key)} | {pm([x['clean_pairwise_accuracy'] for x in h])} | "
                     f"{pm([x['clean_spearman'] for x in h])} | {pm([x['pairwise_accuracy'] for x in h])} | "
                     f"{pm([x['spearman'] for x in h])} |")
    lines += ["", "## Per seed", "",
              "| seed | faults in train (mislabeled) | listed | mislabeled caught | baseline acc. | retrain acc. | random | oracle |",
              "|---|---|---|---|---|---|---|---|"]
    for r in all_results:
        d, h = r["detection"][criterion], r["holdout"]
        lines.append(
            f"| {r['seed']} | {d['planted_in_train']} ({d['mislabeled_in_train']}) | {d['listed']} | "
            f"{d['caught_mislabeled']}/{d['mislabeled_in_train']} | {fmt(h['baseline']['clean_pairwise_accuracy'])} | "
            f"{fmt(h[main]['clean_pairwise_accuracy'])} | {fmt(h.get('random', {}).get('clean_pairwise_accuracy'))} | "
            f"{fmt(h.get('oracle', {}).get('clean_pairwise_accuracy'))} |"
        )
    lines += ["", "Each seed's own report: `seed_<N>/report.md`.", "", "![accuracy](multi_seed_accuracy.png)", ""]
    return lines, summary


def plot_seeds(all_results: list[dict[str, Any]], path: Path) -> None:
    keys = [k for k in ["baseline", f"tracin_{all_results[0]['config']['criterion']}", "random", "oracle"]
            if k in all_results[0]["holdout"]]
    fig, ax = plt.subplots(figsize=(8, 4))
    for r in all_results:
        ax.plot(range(len(keys)), [r["holdout"][k]["clean_pairwise_accuracy"] for k in keys], marker="o", alpha=0.6,
                label=f"seed {r['seed']}")
    means = [mean_std([r["holdout"][k]["clean_pairwise_accuracy"] for r in all_results])[0] for k in keys]
    ax.plot(range(len(keys)), means, color="black", linewidth=3, marker="s", label="mean")
    ax.set_xticks(range(len(keys)), [run_label(k) for k in keys], rotation=15)
    ax.set_ylabel("clean-holdout pairwise accuracy")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    p = make_parser(__doc__)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--from-results", action="store_true",
                   help="do not run anything: aggregate the seeds' existing results.json files")
    add_demo_args(p)
    args = p.parse_args(argv)
    setup_logging()
    started = time.perf_counter()
    all_results = []
    for n, seed in enumerate(args.seeds, 1):
        if args.from_results:
            all_results.append(read_json(Path(args.output_dir) / f"seed_{seed}" / "results.json", "demo results"))
            continue
        print(f"=== seed {seed} ({n} of {len(args.seeds)}) ===", flush=True)
        try:
            all_results.append(run_demo(demo_config(args, seed)))
        except StepFailed as exc:
            print(f"multi_seed: error: {exc}", file=sys.stderr)
            return 1
    lines, summary = aggregate(all_results)
    out = Path(args.output_dir)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    plot_seeds(all_results, out / "multi_seed_accuracy.png")
    write_text_atomic(out / "multi_seed_report.md", "\n".join(lines))
    write_json_atomic(out / "multi_seed_summary.json", json_safe(summary))
    print()
    print("\n".join(lines[6:10]))
    took = "from existing results" if args.from_results else f"{summary['seconds']} s in all"
    print(f"report: {out / 'multi_seed_report.md'}  ({took})")
    return 0


if __name__ == "__main__":
    run_cli(main, "multi_seed")
