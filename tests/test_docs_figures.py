"""The demo figures README.md and docs/tutorial.zh-TW.md quote come from a demo run's results.json.

Here a small fresh demo run feeds docs/update_figures.py; the docs' real seed-0 figures are
checked against a real seed-0 run by `make check-docs` (after `make demo`), which takes minutes.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from pipeline.demo import DemoConfig, run_demo

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("update_figures", REPO / "docs" / "update_figures.py")
update_figures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(update_figures)


def outside_blocks(text: str) -> str:
    return update_figures.BLOCK_RE.sub("<block>", text)


def test_both_docs_quote_the_seed0_block():
    names = {doc.name: [m["name"] for m in update_figures.BLOCK_RE.finditer(doc.read_text(encoding="utf-8"))]
             for doc in update_figures.DOCS}
    assert names == {"README.md": ["seed0"], "tutorial.zh-TW.md": ["seed0-zh"]}


@pytest.mark.slow
def test_docs_figures_follow_a_fresh_demo_run(tmp_path):
    results = run_demo(DemoConfig(output_dir=tmp_path / "demo", seed=0, takes=6, faults=["mislabel-far=2", "clip"],
                                  epochs=3, training_seeds=1, compare_criteria=False, controls=False))
    results_file = tmp_path / "demo" / "seed_0" / "results.json"
    assert json.loads(results_file.read_text())["holdout"] == json.loads(json.dumps(results["holdout"]))
    copies = []
    for doc in update_figures.DOCS:
        copies.append(tmp_path / doc.name)
        copies[-1].write_text(doc.read_text(encoding="utf-8"), encoding="utf-8")
    check = ["--results", str(results_file), "--check", *map(str, copies)]
    assert update_figures.main(check) == 1  # the docs quote the real seed-0 run, not this small one
    assert update_figures.main(["--results", str(results_file), *map(str, copies)]) == 0
    assert update_figures.main(check) == 0
    for doc, copy in zip(update_figures.DOCS, copies):
        assert outside_blocks(copy.read_text(encoding="utf-8")) == outside_blocks(doc.read_text(encoding="utf-8"))
    readme = copies[0].read_text(encoding="utf-8")
    base = results["holdout"]["baseline"]
    assert f"| baseline (no exclusions) | {base['clean_pairwise_accuracy']:.3f} |  |" in readme
    assert "6 angles x 6 takes" in readme
    tutorial = copies[1].read_text(encoding="utf-8")
    assert f"| 基準（不排除） | {base['clean_pairwise_accuracy']:.3f} |" in tutorial

    copies[0].write_text(readme.replace(f"| baseline (no exclusions) | {base['clean_pairwise_accuracy']:.3f}",
                                        "| baseline (no exclusions) | 0.123"), encoding="utf-8")
    assert update_figures.main(check) == 1
