"""The demo pipeline end to end on a tiny data set, its review page in a browser, and its failure message."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import unquote

import pytest

from datasets.exclusions import load_exclusions
from pipeline.demo import DemoConfig, main, run_demo, suggested_angles
from pipeline.multi_seed import aggregate
from pipeline.multi_seed import main as multi_seed_main
from pipeline.relist import relist_demo


def test_suggested_angles_from_the_tools_notes(tmp_path):
    """The note above each id (this format), or after it (earlier lists); the stored angle when none is given."""
    path = tmp_path / "list.txt"
    path.write_text("# header\n# tracin: pairs+misfit; suggested angle 180\nplastic_deg108_500hz_05\n# tracin: pairs\n"
                    "plastic_deg036_500hz_01\nplastic_deg000_500hz_02  # tracin: misfit; suggested angle 72\n"
                    "# added by hand\nplastic_deg144_500hz_03\n")
    assert suggested_angles(path) == {"plastic_deg108_500hz_05": 180.0, "plastic_deg036_500hz_01": 36.0,
                                      "plastic_deg000_500hz_02": 72.0, "plastic_deg144_500hz_03": 144.0}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict]:
    """One tiny demo run (seed 1): its output folder and results."""
    tmp_path = tmp_path_factory.mktemp("demo")
    cfg = DemoConfig(output_dir=tmp_path, seed=1, takes=4, faults=["mislabel-far=2", "clip"], epochs=3,
                     checkpoint_interval=1, training_seeds=2, compare_criteria=False)
    return tmp_path, run_demo(cfg)


@pytest.mark.slow
def test_demo_runs_every_step_and_reports(demo):
    tmp_path, results = demo
    seed_dir = tmp_path / "seed_1"
    truth = json.loads((seed_dir / "truth.json").read_text())
    assert not (seed_dir / "data" / "truth.json").exists()
    assert set(results["faults"]) == set(truth["faults"]) and len(truth["faults"]) == 3
    listed = [ln.split("#")[0].strip() for ln in
              (seed_dir / "data/exclusions/plastic_500hz_tracin_exclusions.txt").read_text().splitlines()
              if ln.strip() and not ln.startswith("#")]
    assert listed == results["lists"]["tutorial"]
    train_ids = set(json.loads((seed_dir / "data/checkpoints/plastic_500hz_standard/run.json").read_text())["split"]["train"])
    assert set(listed) <= train_ids
    oracle = [ln for ln in (seed_dir / "controls/oracle.txt").read_text().splitlines() if not ln.startswith("#")]
    assert sorted(oracle) == sorted(s for s in truth["faults"] if s in train_ids)
    assert results["training_seeds"] == [1, 1001]
    for run in ("baseline", "exclude", "act", "random", "oracle", "oracle-relabel"):
        h = results["holdout"][run]
        assert len(h["runs"]) == 2 and 0.0 <= h["clean_pairwise_accuracy"] <= 1.0
        assert h["clean_pairwise_accuracy"] == pytest.approx(sum(r["clean_pairwise_accuracy"] for r in h["runs"]) / 2)
    # An action that changes the same takes as one trained before reuses its runs (the oracle's may be the list's).
    for seed, run_dir in zip((1, 1001), results["runs"]["oracle"]):
        excluded = json.loads((Path(run_dir) / "run.json").read_text())
        assert excluded["excluded_ids"] == sorted(oracle) and excluded["config"]["seed"] == seed
    # Acting on a list without relabel suggestions is excluding it: trained once and reused.
    relabel = seed_dir / "data/exclusions/plastic_500hz_tracin_exclusions_relabel.txt"
    if not [ln for ln in relabel.read_text().splitlines() if ln.strip() and not ln.startswith("#")]:
        assert results["runs"]["act"] == results["runs"]["exclude"]
    relabelled = json.loads((Path(results["runs"]["oracle-relabel"][0]) / "run.json").read_text())["relabeled"]
    assert relabelled == {s: f["true_angle"] for s, f in truth["faults"].items()
                          if s in train_ids and f["kind"].startswith("mislabel")}
    report = (seed_dir / "report.md").read_text()
    for heading in ("Where the planted faults landed", "Detection", "Caught, by kind of fault", "Holdout ranking quality",
                    "plastic_500hz_tracin_exclusions_review.md", "plastic_500hz_tracin_exclusions_review.html"):
        assert heading in report
    assert (seed_dir / "data/exclusions/plastic_500hz_tracin_exclusions_review.md").is_file()
    for png in ("holdout_accuracy.png", "excluded_recordings.png"):
        assert (seed_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert all("(" not in p.name and " " not in p.name for p in (seed_dir / "logs").iterdir())

    # Aggregation across seeds (the same seed twice is enough to check the arithmetic).
    lines, summary = aggregate([results, results])
    d = results["detection"]["tutorial"]
    pooled = summary["detection"]["tutorial"]
    assert pooled["mislabels"] == [2 * d["caught_mislabeled"], 2 * d["mislabeled_in_train"]]
    gain = results["holdout"]["exclude"]["clean_pairwise_accuracy"] - results["holdout"]["baseline"]["clean_pairwise_accuracy"]
    assert summary["gains"]["exclude"]["mean"] == pytest.approx(gain) and summary["gains"]["exclude"]["ci95"] == 0.0
    assert summary["seeds"] == [1, 1]
    assert any(line.startswith("- The tutorial's command") for line in lines)
    assert multi_seed_main(["--seeds", "1", "--output-dir", str(tmp_path), "--from-results"]) == 0
    assert (tmp_path / "multi_seed_report.md").exists() and (tmp_path / "multi_seed_gains.png").exists()


@pytest.mark.slow
def test_the_review_page_of_the_tutorials_list_in_a_browser(demo, browser):
    """The issue's check: the page opens with no console error, plays every listed take, names every listed id."""
    exclusions = demo[0] / "seed_1" / "data" / "exclusions"
    listed = load_exclusions(exclusions / "plastic_500hz_tracin_exclusions.txt").ids
    assert listed == demo[1]["lists"]["tutorial"] and listed
    page = exclusions / "plastic_500hz_tracin_exclusions_review.html"
    browser.open(page)
    assert browser.console_errors() == []
    assert browser.run("return Array.from(document.querySelectorAll('section.take')).map(s => s.dataset.id)") == listed
    played = browser.play_all()
    takes = {p["src"] for p in played if Path(unquote(p["src"])).stem in listed}
    assert len(takes) == len(listed)
    for p in played:
        assert (page.parent / unquote(p["src"])).is_file() and p["played"] and p["error"] is None, p
    assert browser.console_errors() == []


def test_failed_step_is_one_line(tmp_path, capsys):
    # Too many faults for 6 x 1 recordings: the generator refuses.
    code = main(["--output-dir", str(tmp_path), "--takes", "1", "--faults", "mislabel-far=6", "clip=2", "--no-compare"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "generate recordings" in err[0]
    assert Path(err[0].split("[log: ")[1].rstrip("]")).exists()


@pytest.mark.slow
def test_relist_makes_the_same_lists_again_and_names_a_changed_action(demo):
    """With the rules unchanged, a relisted seed has the lists and detection it had; a retrained model that left
    out other takes than the new list (its run.json says which) is named stale in results and reports."""
    tmp_path, results = demo
    seed_dir = tmp_path / "seed_1"
    again = relist_demo(seed_dir)
    assert again["lists"] == results["lists"] and again["detection"] == results["detection"]
    assert again["holdout"] == results["holdout"] and again["relisted"]["stale_actions"] == []
    assert json.loads((seed_dir / "results.json").read_text())["relisted"]["stale_actions"] == []
    shutil.rmtree(seed_dir / "controls")  # as a relist killed half-way leaves it: running it again finishes it
    (seed_dir / "criteria").mkdir(exist_ok=True)
    assert relist_demo(seed_dir)["lists"] == results["lists"]
    # As if the exclude action's models had been trained on a list one take longer than what the rules give now.
    run_file = Path(results["runs"]["exclude"][0]) / "run.json"
    run = json.loads(run_file.read_text())
    train = json.loads((Path(results["runs"]["baseline"][0]) / "run.json").read_text())["split"]["train"]
    run["excluded_ids"] = sorted([*run["excluded_ids"], next(s for s in train if s not in run["excluded_ids"])])
    run_file.write_text(json.dumps(run))
    changed = relist_demo(seed_dir)
    assert changed["lists"]["tutorial"] == results["lists"]["tutorial"]
    stale = ["exclude", "act"] if results["runs"]["act"] == results["runs"]["exclude"] else ["exclude"]
    assert changed["relisted"]["stale_actions"] == stale
    assert f"Retrained on the earlier lists, so their gains belong to those: {', '.join(stale)}." in \
        (seed_dir / "report.md").read_text()
    lines, _ = aggregate([changed, results])
    assert any(f"seed 1: {', '.join(stale)}" in line for line in lines)
