"""Write the demo figures the docs quote, from a demo run's results.json, so the docs stay true.

    python -m pipeline.demo                    # seed 0: demo_output/seed_0/results.json
    python docs/update_figures.py              # rewrite the marked blocks of README.md and docs/tutorial.zh-TW.md
    python docs/update_figures.py --check      # exit 1 if a quoted figure differs from results.json

(`make docs-figures` does all three; `make check-docs` only the check.) A marked block is

    <!-- figures:seed0 -->
    ...generated, do not edit...
    <!-- /figures -->

where the name after `figures:` picks the renderer (`seed0`: English, `seed0-zh`: Traditional
Chinese). Only `quoted_figures` knows the shape of results.json: when the demo changes it,
adapt that one function. Times are not quoted from here: they vary from run to run.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

ROOT = Path(__file__).resolve().parent.parent
DOCS = (ROOT / "README.md", ROOT / "docs" / "tutorial.zh-TW.md")
DEFAULT_RESULTS = ROOT / "demo_output" / "seed_0" / "results.json"
BLOCK_RE = re.compile(r"(<!-- figures:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /figures -->)", re.DOTALL)


def quoted_figures(results: Mapping[str, Any]) -> dict[str, Any]:
    """results.json -> the figures the docs quote (the only code that knows results.json's shape)."""
    holdout, detection = results["holdout"], results["detection"]
    actions = ["baseline", "exclude", "act", "random", "oracle", "oracle-relabel"]
    models = [(k, holdout[k]["clean_pairwise_accuracy"], holdout[k]["clean_pairwise_accuracy"]
               - holdout["baseline"]["clean_pairwise_accuracy"]) for k in actions if k in holdout]
    order = ["tutorial", "default", *sorted(k for k in detection if k not in _NAMES)]
    lists = [(k, detection[k]["listed"], detection[k]["caught_mislabeled"], detection[k]["mislabeled_in_train"],
              detection[k]["caught"], detection[k]["planted_in_train"], detection[k]["precision"],
              *detection[k]["far_suggested"], *detection[k]["near_suggested"], detection[k]["wrong_suggestions"],
              detection[k]["suggestions"]) for k in order if k in detection]
    return {
        "seed": results["seed"],
        "takes": results["config"]["takes"],
        "generator": results["config"]["generator"],
        "faults": results["config"]["faults"],
        "training_seeds": len(results["training_seeds"]),
        "split": results["split_counts"],
        "models": models,
        "lists": lists,
    }


def _f(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


_NAMES = {"baseline": ("baseline (no exclusions)", "基準（不排除）"),
          "tutorial": ("the tutorial's command", "教學的指令"),
          "default": ("the default rule (no flags)", "預設規則（不加參數）"),
          "exclude": ("exclude the tutorial's list", "排除教學指令的清單"),
          "act": ("act on it: relabel file + exclude the rest", "照清單處理：改標檔中的改標，其餘排除"),
          "random": ("control: as many random training recordings", "對照：隨機排除同樣數量的訓練錄音"),
          "oracle": ("control: oracle, exactly the planted training faults", "對照：oracle，恰好排除埋在訓練集的錯誤"),
          "oracle-relabel": ("control: oracle relabel, true angles", "對照：oracle 改標為真正的角度"),
}


def _name(key: str, zh: bool) -> str:
    if key in _NAMES:
        return _NAMES[key][zh]
    return f"`--criterion {key}`" + ("（教學的參數）" if zh else " (the tutorial's flags)")


def _seed0(f: Mapping[str, Any], zh: bool = False) -> str:
    rows = [f"| {_name(k, zh)} | {_f(a)} | {'' if k == 'baseline' else f'{g:+.3f}'} |" for k, a, g in f["models"]]
    lists = [f"| {_name(k, zh)} | {n} | {cm}/{mt} | {c}/{pt} | {_f(p, 2)} | {r}/{far} | {nr}/{near} | {w}/{given} |"
             for k, n, cm, mt, c, pt, p, r, far, nr, near, w, given in f["lists"]]
    split = f["split"]
    if zh:
        head = (f"seed {f['seed']}（`make demo`：`{f['generator']}` 產生器，6 個角度 × {f['takes']} 次錄音，埋入 "
                f"{', '.join(f['faults'])}；train {split['train']} / validation {split['validation']} / holdout "
                f"{split['holdout']} 段；每個模型用 {f['training_seeds']} 個訓練 seed 取平均）：")
        table = ["| 模型 | clean holdout 配對正確率 | 相對基準 |", "|---|---|---|"]
        table2 = ["| 清單 | 長度 | 抓到的錯標 | 抓到的全部錯誤 | 精確率 | 建議角度正確（遠錯標） | （近錯標） | 給了沒錯標的錄音的建議 |",
                  "|---|---|---|---|---|---|---|---|"]
    else:
        head = (f"Seed {f['seed']} (`make demo`: the `{f['generator']}` generator, 6 angles x {f['takes']} takes, planted "
                f"{', '.join(f['faults'])}; {split['train']} train / {split['validation']} validation / {split['holdout']} "
                f"holdout recordings; every model averaged over {f['training_seeds']} training seeds):")
        table = ["| model | clean-holdout pairwise accuracy | gain |", "|---|---|---|"]
        table2 = ["| list | length | mislabels caught | all faults caught | precision | suggestion right (caught far) |"
                  " (caught near) | suggestions to takes not mislabeled |", "|---|---|---|---|---|---|---|---|"]
    return "\n".join([head, "", *table, *rows, "", *table2, *lists])


def _seed0_zh(f: Mapping[str, Any]) -> str:
    return _seed0(f, zh=True)


RENDERERS: dict[str, Callable[[Mapping[str, Any]], str]] = {"seed0": _seed0, "seed0-zh": _seed0_zh}


def render_blocks(text: str, figures: Mapping[str, Any]) -> str:
    """`text` with every marked block rewritten from `figures`; an unknown block name is a ValueError."""
    def block(m: re.Match) -> str:
        if m["name"] not in RENDERERS:
            raise ValueError(f"unknown figures block {m['name']!r}: known are {', '.join(RENDERERS)}")
        return m.group(1) + RENDERERS[m["name"]](figures).rstrip("\n") + "\n" + m.group(4)

    return BLOCK_RE.sub(block, text)


def stale_blocks(text: str, figures: Mapping[str, Any]) -> list[str]:
    """Names of the marked blocks of `text` whose figures differ from `figures`."""
    fresh = [m["body"] for m in BLOCK_RE.finditer(render_blocks(text, figures))]
    return [m["name"] for m, body in zip(BLOCK_RE.finditer(text), fresh) if m["body"] != body]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help=f"default: {DEFAULT_RESULTS.relative_to(ROOT)}")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 when a block differs")
    p.add_argument("docs", nargs="*", type=Path, default=list(DOCS), help="default: README.md docs/tutorial.zh-TW.md")
    args = p.parse_args(argv)
    if not args.results.is_file():
        print(f"update_figures: error: {args.results} not found: run `python -m pipeline.demo` first", file=sys.stderr)
        return 1
    figures = quoted_figures(json.loads(args.results.read_text(encoding="utf-8")))
    stale = []
    for doc in args.docs:
        text = doc.read_text(encoding="utf-8")
        if not BLOCK_RE.search(text):
            print(f"update_figures: error: {doc} has no <!-- figures:... --> block", file=sys.stderr)
            return 1
        if args.check:
            stale += [f"{doc}: block {name}" for name in stale_blocks(text, figures)]
        elif render_blocks(text, figures) != text:
            doc.write_text(render_blocks(text, figures), encoding="utf-8")
            print(f"updated {doc}")
    if stale:
        print(f"figures differ from {args.results}:\n  " + "\n  ".join(stale)
              + "\nrun `python docs/update_figures.py` (after `python -m pipeline.demo`)", file=sys.stderr)
        return 1
    print(f"the quoted figures match {args.results}" if args.check else f"figures from {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
