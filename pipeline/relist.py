"""Score a finished demo seed again after the exclusion rules changed, without training anything.

A seed's recordings, baseline, TracIn run and retrained models stay as they are; every list is
made again by generate with the current rules (the old lists are removed first, so nothing of
them is taken for a hand edit) and scored against the truth file, and results.json and the
seed's report are rewritten. A retrained model was trained on the earlier lists: an action whose
models were trained on other takes than the new list excludes or relabels (each run's run.json
says what it left out and relabelled) is named in `results["relisted"]["stale_actions"]`, and
the reports say that its gain belongs to the earlier lists. A relist stopped half-way is
finished by running it again.

    python -m pipeline.multi_seed --relist --seeds 0 1 2 3 4 --output-dir demo_output/studies/demo_3000hz_r10
"""
from __future__ import annotations

import shutil
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from datasets.exclusions import load_exclusions
from datasets.relabels import load_relabels, relabel_path_for
from exclusion.criteria import CRITERIA
from pipeline.demo import ACT, EXCLUDE, RANDOM, TUTORIAL, Demo, DemoConfig
from pipeline.report import write_seed_report
from pipeline.steps import StepRunner
from training.records import TrainingRun
from utils.atomic_io import json_safe, read_json, write_json_atomic
from utils.constants import EXCLUSIONS_DIR, METADATA_DIR, influence_file_name


def config_of(results: dict[str, Any], seed_dir: Path) -> DemoConfig:
    """The DemoConfig a seed's results.json records, its output folder where the seed lies now."""
    known = {f.name for f in fields(DemoConfig)}
    record = {k: v for k, v in results["config"].items() if k in known}
    return replace(DemoConfig(**record), output_dir=Path(seed_dir).parent)


def _trained_on(run: Path) -> tuple[list[str], dict[str, float]]:
    """What a retrained run changed: the ids it left out of training (sorted) and those it relabelled."""
    info = TrainingRun.read(Path(run))
    return sorted(info.excluded_ids), {s: float(a) for s, a in info.relabeled.items()}


def stale_actions(results: dict[str, Any], demo: Demo) -> list[str]:
    """The retrained actions (of exclude, act, random) whose runs were trained on other takes than the new lists say."""
    tutorial = demo.lists[TUTORIAL]
    relabels = {s: float(a) for s, a in load_relabels(relabel_path_for(tutorial)).items()} \
        if relabel_path_for(tutorial).is_file() else {}
    ids = load_exclusions(tutorial).ids
    wanted = {EXCLUDE: (sorted(ids), {}), ACT: (sorted(set(ids) - set(relabels)), relabels),
              RANDOM: (sorted(load_exclusions(demo.lists[RANDOM]).ids) if RANDOM in demo.lists else [], {})}
    return [a for a in (EXCLUDE, ACT, RANDOM) if a in results["runs"]
            and any(_trained_on(run) != wanted[a] for run in results["runs"][a])]


def relist_demo(seed_dir: Path) -> dict[str, Any]:
    """Make and score a finished seed's lists again (module docstring); returns the rewritten results."""
    seed_dir = Path(seed_dir).resolve()
    started = time.perf_counter()
    results = read_json(seed_dir / "results.json", "demo results")
    demo = Demo(config_of(results, seed_dir))
    lists = 2 + (len(CRITERIA) - 1 if demo.cfg.compare_criteria else 0)
    demo.steps = StepRunner(demo.dir / "logs" / "relist", lists, env=demo.steps.env)  # the list steps only
    for old in [*(demo.data / EXCLUSIONS_DIR).glob("*"), demo.dir / "criteria", demo.dir / "controls"]:
        shutil.rmtree(old) if old.is_dir() else old.unlink(missing_ok=True)  # a relist stopped half-way removed some
    c = demo.cfg
    demo.make_lists(demo.data / METADATA_DIR / influence_file_name(c.material, c.frequency))
    train_ids = sorted(TrainingRun.read(Path(results["runs"]["baseline"][0])).split["train"])
    faults = read_json(demo.dir / "truth.json", "truth file")["faults"]
    demo.plan_actions(train_ids, faults)
    stale = stale_actions(results, demo)
    results.update(demo.scored_lists(train_ids, faults))
    results["relisted"] = {"stale_actions": stale, "seconds": round(time.perf_counter() - started, 1),
                           "tutorial_list": str(demo.lists[TUTORIAL])}
    write_json_atomic(seed_dir / "results.json", json_safe(results))
    write_seed_report(results, seed_dir)
    return results
