"""The demo over several seeds (new recordings, faults, split and training each time), with
every figure as it came out: pooled rates, means with 95% intervals, the worst seed. One seed
proves nothing.

    python -m pipeline.multi_seed --seeds 0 1 2 3 4 5 6 7 8 9 --takes 24
    make demo-seeds                                   # the same
    python -m pipeline.multi_seed --seeds 0 1 2 --generator room --output-dir demo_output_room

A gain whose 95% interval reaches zero is reported as "no measurable gain".
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.demo import StepFailed, add_demo_args, config_from_args, run_demo
from pipeline.report import fmt, label, list_order, run_order
from utils.atomic_io import json_safe, read_json, write_json_atomic, write_text_atomic
from utils.cli import make_parser, run_cli, setup_logging
from utils.threads import apply_threads
from utils.figures import plt, save_figure
from utils.markdown import table

T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086}
"""Student's t, 97.5th percentile, by degrees of freedom (beyond 20: 1.96 + 2.4 / df, within 0.002)."""
TARGETS = {"default_recall": 0.9, "default_precision": 0.6, "worst_seed": 0.5, "tutorial_recall": 0.8,
           "seeds_not_worse": 0.9, "oracle_gap": 0.01, "suggested": 0.8}


def mean_ci(values: list[float]) -> tuple[float, float, float]:
    """(mean, standard deviation, half-width of the 95% t interval of the mean) of the finite values."""
    v = np.asarray([x for x in values if x is not None and not np.isnan(x)], dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    if v.size == 1:
        return float(v[0]), 0.0, float("inf")
    sd = float(v.std(ddof=1))
    df = v.size - 1
    t = T_975.get(df, 1.96 + 2.4 / df)
    return float(v.mean()), sd, t * sd / math.sqrt(v.size)


def pm(values: list[float], digits: int = 3) -> str:
    m, s, _ = mean_ci(values)
    return f"{fmt(m, digits)} ± {fmt(s, digits)}"


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def detection_summary(all_results: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Pooled and per-seed detection figures of one list over the seeds."""
    det = [r["detection"][key] for r in all_results]
    caught = sum(d["caught_mislabeled"] for d in det)
    planted = sum(d["mislabeled_in_train"] for d in det)
    per_seed = [ratio(d["caught_mislabeled"], d["mislabeled_in_train"]) for d in det]
    kinds: dict[str, list[int]] = {}
    for d in det:
        for kind, (c, n) in d["by_kind"].items():
            entry = kinds.setdefault(kind, [0, 0])
            entry[0] += c
            entry[1] += n
    far = [sum(d["far_suggested"][i] for d in det) for i in (0, 1)]
    return {
        "mislabel_recall": ratio(caught, planted),
        "mislabels": [caught, planted],
        "worst_seed_recall": min((x for x in per_seed if not np.isnan(x)), default=float("nan")),
        "precision": ratio(sum(d["caught"] for d in det), sum(d["listed"] for d in det)),
        "listed": [d["listed"] for d in det],
        "seeds_within_twice": sum(d["listed"] <= 2 * d["planted_in_train"] for d in det),
        "by_kind": kinds,
        "far_suggested": far,
    }


def gain_summary(all_results: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Clean-holdout accuracy minus the baseline's, per seed (each the mean of the training seeds)."""
    gains = [r["holdout"][key]["clean_pairwise_accuracy"] - r["holdout"]["baseline"]["clean_pairwise_accuracy"]
             for r in all_results]
    m, sd, half = mean_ci(gains)
    return {"gains": gains, "mean": m, "sd": sd, "ci95": half, "not_worse": sum(g >= 0 for g in gains),
            "measurable": bool(abs(m) > half)}


def verdict_lines(s: dict[str, Any], n: int) -> list[str]:
    def met(ok: bool) -> str:
        return "met" if ok else "NOT met"

    d, t, g = s["detection"]["default"], s["detection"]["tutorial"], s["gains"]
    lines = [
        f"- The default rule (no flags, `--criterion combined`): caught {d['mislabels'][0]}/{d['mislabels'][1]} planted "
        f"mislabeled training takes ({fmt(d['mislabel_recall'], 2)}; target 0.90) -> "
        f"{met(d['mislabel_recall'] >= TARGETS['default_recall'])}; its list was at most twice the planted faults in "
        f"{d['seeds_within_twice']} of {n} seeds -> {met(d['seeds_within_twice'] == n)}; precision "
        f"{fmt(d['precision'], 2)} (target 0.60) -> {met(d['precision'] >= TARGETS['default_precision'])}; worst seed "
        f"{fmt(d['worst_seed_recall'], 2)} (target 0.50) -> {met(d['worst_seed_recall'] >= TARGETS['worst_seed'])}",
        f"- The tutorial's literal command: caught {t['mislabels'][0]}/{t['mislabels'][1]} "
        f"({fmt(t['mislabel_recall'], 2)}; target 0.80) -> {met(t['mislabel_recall'] >= TARGETS['tutorial_recall'])}; "
        f"list at most twice the planted faults in {t['seeds_within_twice']} of {n} seeds -> "
        f"{met(t['seeds_within_twice'] == n)}",
    ]
    tg, og, rg = g["tutorial"], g.get("oracle"), g.get("random")
    lines.append(f"- The retrain without the tutorial's list: not worse than the baseline in {tg['not_worse']} of {n} "
                 f"seeds (target 9 of 10) -> {met(tg['not_worse'] >= math.ceil(TARGETS['seeds_not_worse'] * n))}; mean "
                 f"gain {tg['mean']:+.3f} ± {tg['ci95']:.3f}" + ("" if tg["measurable"] else " (no measurable gain)"))
    if og and rg:
        lines.append(f"- Oracle gain {og['mean']:+.3f} ± {og['ci95']:.3f}: the list's gain is within 0.01 of it -> "
                     f"{met(tg['mean'] >= og['mean'] - TARGETS['oracle_gap'])}; random control {rg['mean']:+.3f} ± "
                     f"{rg['ci95']:.3f}" + ("" if rg["measurable"] else " (no measurable gain)")
                     + f", less than the list's -> {met(rg['mean'] < tg['mean'])}")
    right, far = t["far_suggested"]
    lines.append(f"- Suggested angles right for {right} of {far} caught far mislabels ({fmt(ratio(right, far), 2)}; "
                 f"target 0.80) -> {met(ratio(right, far) >= TARGETS['suggested'])}")
    return lines


def aggregate(all_results: list[dict[str, Any]]) -> tuple[list[str], dict[str, Any]]:
    """Markdown lines and a JSON-able summary across seeds."""
    first = all_results[0]
    n = len(all_results)
    lists = list_order(first)
    runs = [k for k in run_order(first) if k != "baseline"]
    summary: dict[str, Any] = {
        "seeds": [r["seed"] for r in all_results],
        "generator": first["config"]["generator"],
        "takes": first["config"]["takes"],
        "training_seeds": len(first["training_seeds"]),
        "detection": {k: detection_summary(all_results, k) for k in lists},
        "gains": {k: gain_summary(all_results, k) for k in runs},
    }
    seeds = ", ".join(str(s) for s in summary["seeds"])
    lines = [
        f"# TracIn demo over {n} seeds ({seeds})", "",
        f"Recordings from the `{summary['generator']}` generator, {summary['takes']} takes per angle; each seed draws new "
        f"recordings, faults, split and training; every model is trained with {summary['training_seeds']} seeds and its "
        "clean-holdout accuracy averaged. Accuracy is measured on holdout pairs that contain no planted fault; TracIn "
        "never sees the holdout. Rates are pooled over the seeds unless stated.", "",
        "## Verdict", "", *verdict_lines(summary, n), "",
        "## Detection (planted faults in the training split)", "",
    ]
    detection = []
    for k in lists:
        d = summary["detection"][k]
        detection.append([label(k), f"{d['mislabels'][0]}/{d['mislabels'][1]} ({fmt(d['mislabel_recall'], 2)})",
                          fmt(d["worst_seed_recall"], 2), pm(d["listed"], 1), f"{d['seeds_within_twice']}/{n}",
                          fmt(d["precision"], 2), f"{d['far_suggested'][0]}/{d['far_suggested'][1]}"])
    lines += table(["list", "mislabels caught", "worst seed", "list length", "within 2x planted", "precision",
                    "suggested right (far)"], detection)
    kinds = sorted({kind for k in lists for kind in summary["detection"][k]["by_kind"]})
    shown = [k for k in lists if k not in ("random", "oracle")]
    lines += ["", "### Caught, by kind of fault (caught / planted in the training split, all seeds)", ""]
    by_kind = []
    for kind in kinds:
        cells = [summary["detection"][k]["by_kind"].get(kind, [0, 0]) for k in shown]
        by_kind.append([kind, *(f"{caught}/{planted}" for caught, planted in cells)])
    lines += table(["fault kind", *shown], by_kind)
    gains = []
    for k in runs:
        g = summary["gains"][k]
        note = "" if g["measurable"] else " (no measurable gain)"
        gains.append([label(k), f"{g['mean']:+.3f}{note}", f"± {g['ci95']:.3f}", f"{g['not_worse']}/{n}",
                      ", ".join(f"{x:+.3f}" for x in g["gains"])])
    lines += ["", "## Clean-holdout accuracy: retrain minus baseline", ""]
    lines += table(["retrain without", "mean gain", "95% interval", "seeds not worse", "per seed"], gains)
    base = [r["holdout"]["baseline"]["clean_pairwise_accuracy"] for r in all_results]
    lines += ["", f"Baseline clean-holdout accuracy: {pm(base)} (mean ± SD over seeds).", "",
              "Each seed's own report: `seed_<N>/report.md`.", "", "![gains](multi_seed_gains.png)", ""]
    return lines, summary


def plot_gains(summary: dict[str, Any], path: Path) -> None:
    keys = list(summary["gains"])
    fig, ax = plt.subplots(figsize=(9, 0.6 + 0.5 * len(keys)))
    for i, k in enumerate(keys):
        g = summary["gains"][k]
        ax.scatter(g["gains"], [i] * len(g["gains"]), color="0.6", s=14)
        ax.errorbar([g["mean"]], [i], xerr=[[min(g["ci95"], 1.0)], [min(g["ci95"], 1.0)]], fmt="s", color="black")
    ax.axvline(0, color="tab:red", lw=1)
    ax.set_yticks(range(len(keys)), keys)
    ax.invert_yaxis()
    ax.set_xlabel("clean-holdout pairwise accuracy, retrain minus baseline (mean and 95% interval; grey: seeds)")
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    p = make_parser(__doc__)
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    p.add_argument("--from-results", action="store_true",
                   help="do not run anything: aggregate the seeds' existing results.json files")
    add_demo_args(p)
    args = p.parse_args(argv)
    setup_logging()
    apply_threads(args.threads)  # the demo steps inherit it
    started = time.perf_counter()
    all_results = []
    for n, seed in enumerate(args.seeds, 1):
        if args.from_results:
            all_results.append(read_json(Path(args.output_dir) / f"seed_{seed}" / "results.json", "demo results"))
            continue
        print(f"=== seed {seed} ({n} of {len(args.seeds)}) ===", flush=True)
        try:
            all_results.append(run_demo(config_from_args(args, seed)))
        except StepFailed as exc:
            print(f"multi_seed: error: {exc}", file=sys.stderr)
            return 1
    lines, summary = aggregate(all_results)
    out = Path(args.output_dir)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    plot_gains(summary, out / "multi_seed_gains.png")
    write_text_atomic(out / "multi_seed_report.md", "\n".join(lines))
    write_json_atomic(out / "multi_seed_summary.json", json_safe(summary))
    print()
    print("\n".join(lines[lines.index("## Verdict") + 2: lines.index("## Detection (planted faults in the training split)") - 1]))
    took = "from existing results" if args.from_results else f"{summary['seconds']} s in all"
    print(f"report: {out / 'multi_seed_report.md'}  ({took})")
    return 0


if __name__ == "__main__":
    run_cli(main, "multi_seed")
