"""report.md, summary.txt and PNGs for one demo seed and for several seeds."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from influence.io import load_influence
from utils.atomic_io import write_text_atomic
from utils.constants import METADATA_DIR, influence_file_name
from utils.figures import plt, save_figure

RUN_LABELS = {
    "baseline": "baseline (no exclusions)",
    "random": "control: random recordings",
    "oracle": "control: oracle (planted faults)",
}


def run_label(key: str) -> str:
    if key.startswith("tracin_"):
        return f"TracIn, --criterion {key[len('tracin_'):]}"
    return RUN_LABELS.get(key, key)


def list_label(key: str) -> str:
    """Label of an exclusion list in the detection tables: a --criterion, or a control."""
    return RUN_LABELS[key] if key in ("random", "oracle") else f"TracIn --criterion {key}"


def fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _run_order(results: dict[str, Any]) -> list[str]:
    main = f"tracin_{results['config']['criterion']}"
    keys = ["baseline", main, "random", "oracle"]
    keys += sorted(k for k in results["holdout"] if k.startswith("tracin_") and k != main)
    return [k for k in keys if k in results["holdout"]]


def plot_holdout(results: dict[str, Any], path: Path) -> None:
    keys = _run_order(results)
    acc = [results["holdout"][k]["clean_pairwise_accuracy"] for k in keys]
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.55 * len(keys)))
    colors = ["tab:gray" if k == "baseline" else "tab:blue" if k.startswith("tracin_") else "tab:olive" for k in keys]
    ax.barh(range(len(keys)), acc, color=colors)
    for i, a in enumerate(acc):
        ax.text(a, i, f" {a:.3f}", va="center")
    ax.axvline(acc[0], color="black", linestyle=":", linewidth=1)
    ax.set_yticks(range(len(keys)), [run_label(k) for k in keys])
    ax.invert_yaxis()
    lo = max(0.0, min(acc) - 0.1)
    ax.set_xlim(lo, 1.02)
    ax.set_xlabel("clean-holdout pairwise accuracy (pairs without planted faults)")
    ax.set_title(f"seed {results['seed']}: retrain after each exclusion list")
    save_figure(fig, path)


def plot_self_influence(results: dict[str, Any], data_root: Path, path: Path) -> None:
    cfg = results["config"]
    data = load_influence(data_root / METADATA_DIR / influence_file_name(cfg["material"], cfg["frequency"]))
    if data.recording_self_influence is None:
        return
    faults, listed = results["faults"], set(results["lists"][cfg["criterion"]])
    order = np.argsort(-data.recording_self_influence)
    ids = [data.recording_ids[k] for k in order]
    colors = ["tab:red" if faults.get(s, {}).get("kind") == "mislabel" else "tab:orange" if s in faults else "tab:gray" for s in ids]
    fig, ax = plt.subplots(figsize=(10, 3.8))
    ax.bar(range(len(ids)), data.recording_self_influence[order], color=colors,
           edgecolor=["black" if s in listed else "none" for s in ids], linewidth=1.2)
    ax.set_xlabel("training recordings, by TracIn self-influence (black edge: on the exclusion list)")
    ax.set_ylabel("self-influence")
    ax.set_title("red: planted mislabel, orange: planted clipping, grey: clean")
    save_figure(fig, path)


def seed_summary_lines(results: dict[str, Any]) -> list[str]:
    cfg = results["config"]
    det = results["detection"][cfg["criterion"]]
    ho = results["holdout"]
    main = f"tracin_{cfg['criterion']}"
    lines = [
        f"seed {results['seed']}: {det['planted_in_train']} planted faults in the training split "
        f"({det['mislabeled_in_train']} mislabeled); exclusion list ({cfg['criterion']}) holds {det['listed']} "
        f"(at most {results['max_exclusions']})",
        f"  caught {det['caught_mislabeled']}/{det['mislabeled_in_train']} mislabeled, {det['caught']}/{det['planted_in_train']} "
        f"faults in all; precision {fmt(det['precision'], 2)}",
        f"  clean-holdout pairwise accuracy: baseline {fmt(ho['baseline']['clean_pairwise_accuracy'])} -> "
        f"retrain {fmt(ho[main]['clean_pairwise_accuracy'])}",
    ]
    if "random" in ho:
        lines.append(f"  controls: random {fmt(ho['random']['clean_pairwise_accuracy'])}, "
                     f"oracle {fmt(ho['oracle']['clean_pairwise_accuracy'])}")
    return lines


def write_seed_report(results: dict[str, Any], seed_dir: Path) -> None:
    """report.md, summary.txt, holdout_accuracy.png and self_influence.png in `seed_dir`."""
    cfg = results["config"]
    plot_holdout(results, seed_dir / "holdout_accuracy.png")
    plot_self_influence(results, seed_dir / "data", seed_dir / "self_influence.png")
    summary = seed_summary_lines(results)
    write_text_atomic(seed_dir / "summary.txt", "\n".join(summary) + "\n")

    sc = results["split_counts"]
    lines = [
        f"# TracIn demo report, seed {results['seed']}",
        "",
        "\n".join(f"    {s}" for s in summary),
        "",
        "## Set-up",
        "",
        f"- {cfg['takes']} takes x 6 angles of {cfg['material']} at {cfg['frequency']}; planted: {cfg['mislabel']} mislabeled "
        f"(saved under an angle at least 72 degrees off), {cfg['clip']} hard-clipped. Truth file: `truth.json` "
        "(outside the data root; read by this report only).",
        f"- Split (seeded, by angle, fixed before any exclusion): {sc['train']} train / {sc['validation']} validation / "
        f"{sc['holdout']} holdout recordings. TracIn scores training pairs against validation pairs; the holdout is "
        "never seen by it.",
        f"- The list may hold at most {results['max_exclusions']} recordings ({cfg['expected_fault_rate']:.0%} of the "
        "training recordings, the expected fault rate the demo assumes).",
        "",
        "## Where the planted faults landed",
        "",
        "| recording | fault | stored angle | true angle | split | on the list |",
        "|---|---|---|---|---|---|",
    ]
    listed = set(results["lists"][cfg["criterion"]])
    for sid, fault in sorted(results["faults"].items()):
        split = results["fault_split"][sid]
        lines.append(f"| `{sid}` | {fault['kind']} | {fault['stored_angle']} | {fault['true_angle']} | {split} | "
                     f"{'yes' if sid in listed else ('no' if split == 'train' else '-')} |")
    lines += [
        "",
        "## Detection: which planted training faults each list caught",
        "",
        "| list | length | mislabeled caught | all faults caught | recall | precision |",
        "|---|---|---|---|---|---|",
    ]
    for key, det in results["detection"].items():
        lines.append(f"| {list_label(key)} | {det['listed']} | {det['caught_mislabeled']}/{det['mislabeled_in_train']} | "
                     f"{det['caught']}/{det['planted_in_train']} | {fmt(det['recall'], 2)} | {fmt(det['precision'], 2)} |")
    lines += [
        "",
        "## Holdout ranking quality before and after",
        "",
        "Clean: holdout pairs with no planted fault in them. All: every holdout pair.",
        "",
        "| model | clean pairwise acc. | clean Spearman | all pairwise acc. | all Spearman |",
        "|---|---|---|---|---|",
    ]
    for key in _run_order(results):
        h = results["holdout"][key]
        lines.append(f"| {run_label(key)} | {fmt(h['clean_pairwise_accuracy'])} | {fmt(h['clean_spearman'])} | "
                     f"{fmt(h['pairwise_accuracy'])} | {fmt(h['spearman'])} |")
    lines += [
        "",
        f"Clean holdout pairs: {results['holdout']['baseline']['clean_pairs']}. One seed is an anecdote: "
        "`make demo-seeds` runs several and reports mean and spread.",
        "",
        "## Pictures",
        "",
        "- `holdout_accuracy.png`: clean-holdout accuracy of every retrain.",
        "- `self_influence.png`: training recordings by self-influence, planted faults in colour.",
        "- `excluded_recordings.png`: the list's recordings, their influence and angles.",
        f"- training curves: `data/checkpoints/<run>/training_curves.png` (runs: {', '.join(sorted(results['runs']))}).",
        "",
        "![holdout](holdout_accuracy.png)",
        "",
        "![self-influence](self_influence.png)",
        "",
        "## Time",
        "",
        "| step | seconds |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in results["step_seconds"].items()],
        f"| **all** | {results['seconds']} |",
        "",
    ]
    write_text_atomic(seed_dir / "report.md", "\n".join(lines))
