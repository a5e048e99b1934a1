"""Score a finished demo seed again after the exclusion rules changed, without training anything.

A seed's recordings, baseline, TracIn run and retrained models stay as they are; every list is
made again by generate with the current rules (the old lists are removed first, so nothing of
them is taken for a hand edit) and scored against the truth file, and results.json and the
seed's report are rewritten. A retrained model was trained on the earlier lists: an action whose
list or relabel file changed is named in `results["relisted"]["stale_actions"]`, and the reports
say that its gain belongs to the earlier lists.

    python -m pipeline.multi_seed --relist --seeds 0 1 2 3 4 --output-dir demo_output/studies/demo_3000hz_r10
"""
from __future__ import annotations

import shutil
import time
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any

from datasets.exclusions import load_exclusions
from datasets.relabels import load_relabels, relabel_path_for
from pipeline.demo import ACT, EXCLUDE, RANDOM, TUTORIAL, Demo, DemoConfig, suggestions_of
from exclusion.criteria import CRITERIA
from pipeline.evaluate import detection_score
from pipeline.report import write_seed_report
from pipeline.steps import StepRunner
from training.records import TrainingRun
from utils.atomic_io import json_safe, read_json, write_json_atomic
from utils.constants import EXCLUSIONS_DIR, METADATA_DIR, exclusions_file_name, influence_file_name


def config_of(results: dict[str, Any], seed_dir: Path) -> DemoConfig:
    """The DemoConfig a seed's results.json records, its output folder where the seed lies now."""
    known = {f.name for f in fields(DemoConfig)}
    record = {k: v for k, v in results["config"].items() if k in known}
    return replace(DemoConfig(**record), output_dir=Path(seed_dir).parent)


def _acted_on(demo: Demo) -> dict[str, Any]:
    """What each retrained action read: the tutorial's ids, its relabel lines, the random control's ids."""
    tutorial_list = demo.data / EXCLUSIONS_DIR / exclusions_file_name(demo.cfg.material, demo.cfg.frequency)
    random_list = demo.dir / "controls" / f"{RANDOM}.txt"
    relabel = relabel_path_for(tutorial_list)
    return {EXCLUDE: load_exclusions(tutorial_list).ids if tutorial_list.is_file() else [],
            ACT: sorted(load_relabels(relabel).items()) if relabel.is_file() else [],
            RANDOM: load_exclusions(random_list).ids if random_list.is_file() else []}


def relist_demo(seed_dir: Path) -> dict[str, Any]:
    """Make and score a finished seed's lists again (module docstring); returns the rewritten results."""
    seed_dir = Path(seed_dir).resolve()
    started = time.perf_counter()
    results = read_json(seed_dir / "results.json", "demo results")
    demo = Demo(config_of(results, seed_dir))
    lists = 2 + (len(CRITERIA) - 1 if demo.cfg.compare_criteria else 0)
    demo.steps = StepRunner(demo.dir / "logs" / "relist", lists, env=demo.steps.env)  # the list steps only
    before = _acted_on(demo)
    for old in [*(demo.data / EXCLUSIONS_DIR).glob("*"), demo.dir / "criteria", demo.dir / "controls"]:
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    c = demo.cfg
    demo.make_lists(demo.data / METADATA_DIR / influence_file_name(c.material, c.frequency))
    train_ids = sorted(TrainingRun.read(Path(results["runs"]["baseline"][0])).split["train"])
    faults = read_json(demo.dir / "truth.json", "truth file")["faults"]
    demo.plan_actions(train_ids, faults)
    after = _acted_on(demo)
    retrained = set(results["holdout"])
    stale = [a for a in (EXCLUDE, ACT, RANDOM) if a in retrained and (before[a] != after[a] or
                                                                      (a == ACT and before[EXCLUDE] != after[EXCLUDE]))]
    results["lists"] = {label: load_exclusions(path).ids for label, path in demo.lists.items()}
    results["detection"] = {label: asdict(detection_score(load_exclusions(path).ids, train_ids, faults,
                                                          suggestions_of(path)))
                            for label, path in demo.lists.items()}
    results["relisted"] = {"stale_actions": stale, "seconds": round(time.perf_counter() - started, 1),
                           "tutorial_list": str(demo.lists[TUTORIAL])}
    write_json_atomic(seed_dir / "results.json", json_safe(results))
    write_seed_report(results, seed_dir)
    return results
