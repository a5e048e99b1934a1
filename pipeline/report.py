"""report.md, summary.txt and PNGs for one demo seed (the multi-seed report is pipeline.multi_seed)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from datasets.faults import FAULT_KINDS
from exclusion.review import review_page_path, review_paths
from utils.atomic_io import write_text_atomic
from utils.constants import exclusions_file_name
from utils.figures import plt, save_figure
from utils.markdown import table

LABELS = {
    "baseline": "baseline (no exclusions)",
    "tutorial": "the tutorial's command (--threshold -3.0 --min-occurrences 5 --max-exclusions 30 --consider-both-samples)",
    "default": "the default rule (no flags: --criterion profile)",
    "random": "control: as many random training recordings",
    "oracle": "control: oracle (exactly the planted training faults)",
    "exclude": "exclude the tutorial's list (--exclusions-file)",
    "act": "act on it: the relabel file's takes relabelled, the rest excluded (--exclusions-file + --relabel-file)",
    "oracle-relabel": "control: oracle relabel (planted mislabels at their true angles, other planted faults excluded)",
}
LIST_KEYS = ("tutorial", "default")
CONTROL_LISTS = ("random", "oracle")
ACTION_ORDER = ("exclude", "act", "random", "oracle", "oracle-relabel")


def label(key: str) -> str:
    return LABELS.get(key, f"--criterion {key} (with the tutorial's flags)")


def fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def list_order(results: dict[str, Any]) -> list[str]:
    """The scored lists: the tutorial's, the default rule's, each criterion's, then the controls."""
    keys = [*LIST_KEYS, *sorted(k for k in results["lists"] if k not in LABELS), *CONTROL_LISTS]
    return [k for k in keys if k in results["lists"]]


def run_order(results: dict[str, Any]) -> list[str]:
    """The trained models: the baseline, then each action that was retrained."""
    return ["baseline"] + [k for k in ACTION_ORDER if k in results["holdout"]]


def suggestion_cells(d: dict[str, Any]) -> list[str]:
    """Suggested angles right for caught far and near mislabels, and suggestions given to takes not mislabeled."""
    (fr, fn), (nr, nn) = d["far_suggested"], d.get("near_suggested", [0, 0])
    return [f"{fr}/{fn}", f"{nr}/{nn}", f"{d.get('wrong_suggestions', 0)}/{d.get('suggestions', 0)}"]


def gain(results: dict[str, Any], key: str) -> float:
    return results["holdout"][key]["clean_pairwise_accuracy"] - results["holdout"]["baseline"]["clean_pairwise_accuracy"]


def plot_holdout(results: dict[str, Any], path: Path) -> None:
    keys = run_order(results)
    acc = [results["holdout"][k]["clean_pairwise_accuracy"] for k in keys]
    fig, ax = plt.subplots(figsize=(9, 0.6 + 0.5 * len(keys)))
    colors = ["tab:gray" if k == "baseline" else "tab:olive" if k in ("random", "oracle", "oracle-relabel") else "tab:blue"
              for k in keys]
    ax.barh(range(len(keys)), acc, color=colors)
    for i, a in enumerate(acc):
        ax.text(a, i, f" {a:.3f}", va="center")
    ax.axvline(acc[0], color="black", linestyle=":", linewidth=1)
    ax.set_yticks(range(len(keys)), [k for k in keys])
    ax.invert_yaxis()
    ax.set_xlim(max(0.0, min(acc) - 0.1), 1.02)
    ax.set_xlabel(f"clean-holdout pairwise accuracy, mean of {len(results['training_seeds'])} training seeds")
    ax.set_title(f"seed {results['seed']}: each action retrained")
    save_figure(fig, path)


def seed_summary_lines(results: dict[str, Any]) -> list[str]:
    det = results["detection"]["tutorial"]
    ho = results["holdout"]
    far, near, wrong = suggestion_cells(det)
    lines = [
        f"seed {results['seed']} ({results['config']['generator']} recordings at {results['config']['frequency']}): "
        f"{det['planted_in_train']} planted faults in the training split ({det['mislabeled_in_train']} mislabeled); the "
        f"tutorial's command lists {det['listed']}",
        f"  caught {det['caught_mislabeled']}/{det['mislabeled_in_train']} mislabeled, {det['caught']}/"
        f"{det['planted_in_train']} faults in all; precision {fmt(det['precision'], 2)}; suggested angles right for "
        f"{far} caught far and {near} caught near mislabels; suggestions to takes not mislabeled: {wrong}",
        f"  clean-holdout pairwise accuracy (mean of {len(results['training_seeds'])} training seeds): baseline "
        f"{fmt(ho['baseline']['clean_pairwise_accuracy'])}"
        + "".join(f"; {k} {gain(results, k):+.3f}" for k in run_order(results)[1:]),
    ]
    return lines


def _fault_rows(results: dict[str, Any]) -> list[str]:
    listed = set(results["lists"]["tutorial"])
    rows = []
    for sid, fault in sorted(results["faults"].items()):
        split = results["fault_split"][sid]
        on = "yes" if sid in listed else ("no" if split == "train" else "-")
        rows.append([f"`{sid}`", fault["kind"], fault["stored_angle"], fault["true_angle"], split, on])
    return table(["recording", "fault", "stored angle", "true angle", "split", "on the tutorial's list"], rows)


def _detection_rows(results: dict[str, Any]) -> list[str]:
    rows = []
    for key in list_order(results):
        d = results["detection"][key]
        rows.append([label(key), d["listed"], f"{d['caught_mislabeled']}/{d['mislabeled_in_train']}",
                     f"{d['caught']}/{d['planted_in_train']}", fmt(d["precision"], 2), *suggestion_cells(d)])
    return table(["list", "length", "mislabels caught", "all faults caught", "precision", "suggestion right (caught far)",
                  "(caught near)", "suggestions to takes not mislabeled"], rows)


def _kind_rows(results: dict[str, Any]) -> list[str]:
    keys = [k for k in list_order(results) if k not in CONTROL_LISTS]
    rows = []
    for kind in FAULT_KINDS:
        counts = [results["detection"][k]["by_kind"].get(kind, [0, 0]) for k in keys]
        if counts and counts[0][1]:
            rows.append([kind, counts[0][1], *(c[0] for c in counts)])
    return table(["fault kind", "in training", *keys], rows)


def _holdout_rows(results: dict[str, Any]) -> list[str]:
    rows = []
    for key in run_order(results):
        h = results["holdout"][key]
        each = ", ".join(fmt(r["clean_pairwise_accuracy"]) for r in h["runs"])
        g = "" if key == "baseline" else f"{gain(results, key):+.3f}"
        rows.append([label(key), fmt(h["clean_pairwise_accuracy"]), g, fmt(h["clean_spearman"]),
                     fmt(h["pairwise_accuracy"]), each])
    return table(["model", "clean pairwise acc.", "gain", "clean Spearman", "all pairwise acc.", "per training seed"],
                 rows)


def _relisted_rows(results: dict[str, Any]) -> list[str]:
    """A relisted seed (`pipeline.relist`): its lists are newer than its retrained models."""
    if "relisted" not in results:
        return []
    stale = results["relisted"]["stale_actions"]
    return ["The lists above were made again with later rules after the models were trained (`--relist`). "
            + (f"Retrained on the earlier lists, so their gains belong to those: {', '.join(stale)}." if stale
               else "Every retrained model's list stayed the same."), ""]


def write_seed_report(results: dict[str, Any], seed_dir: Path) -> None:
    """report.md, summary.txt and holdout_accuracy.png in `seed_dir`."""
    cfg = results["config"]
    plot_holdout(results, seed_dir / "holdout_accuracy.png")
    summary = seed_summary_lines(results)
    write_text_atomic(seed_dir / "summary.txt", "\n".join(summary) + "\n")
    sc = results["split_counts"]
    tutorial_list = Path("data") / "exclusions" / exclusions_file_name(cfg["material"], cfg["frequency"])
    review, page = review_paths(tutorial_list)[0], review_page_path(tutorial_list)
    lines = [
        f"# TracIn demo report, seed {results['seed']}", "", "\n".join(f"    {s}" for s in summary), "",
        "## Set-up", "",
        f"- Recordings: generator `{cfg['generator']}`, {cfg['takes']} takes per angle of {cfg['material']} at "
        f"{cfg['frequency']}; planted faults: {', '.join(cfg['faults']) or 'none'}. Truth file: `truth.json` (outside "
        "the data root; read by this report only).",
        f"- Split (seeded, by angle, fixed before any exclusion): {sc['train']} train / {sc['validation']} validation / "
        f"{sc['holdout']} holdout recordings. TracIn scores training pairs against validation pairs; the holdout is "
        "never seen by it.",
        f"- Every model is trained with {len(results['training_seeds'])} seeds ({', '.join(map(str, results['training_seeds']))})"
        " and its accuracy averaged; TracIn reads the first baseline.",
        "", "## Where the planted faults landed", "", *_fault_rows(results), "",
        "## Detection: which planted training faults each list caught", "",
        "Precision counts a listed fault of any kind as right. A suggestion is a line of the relabel file beside the "
        "list (for lists without one, a suggested angle in its `# tracin:` notes).", "",
        *_detection_rows(results), "", "Caught, by kind of fault:", "", *_kind_rows(results), "",
        "## Holdout ranking quality before and after", "",
        "Each action is retrained with every training seed (the lists of the single criteria are scored above, not "
        "retrained). Clean: holdout pairs with no planted fault in them. All: every holdout pair.", "",
        *_holdout_rows(results), "",
        *_relisted_rows(results),
        f"Clean holdout pairs: {results['holdout']['baseline']['clean_pairs']:.0f}. One seed is an anecdote: "
        "`make demo-seeds` runs several and reports means with 95% intervals.", "",
        "## Review sheet and pictures", "",
        f"- [`{page}`]({page}): the review page of the tutorial's list, to open in a browser: each take's players "
        "beside typical takes, its harmonic profile, and a decision per take that gives back the edited list.",
        f"- [`{review}`]({review}): every recording on the tutorial's list, why, its scores, its suggested angle, its "
        "WAV, and its spectrogram beside a typical one of its angle.",
        "- `excluded_recordings.png`: the tutorial's list among all training recordings.",
        "- `holdout_accuracy.png`: clean-holdout accuracy of every retrain.",
        "", "![holdout](holdout_accuracy.png)", "", "![excluded](excluded_recordings.png)", "",
        "## Time", "", *table(["step", "seconds"], [*results["step_seconds"].items(), ("**all**", results["seconds"])]),
        "",
    ]
    write_text_atomic(seed_dir / "report.md", "\n".join(lines))
