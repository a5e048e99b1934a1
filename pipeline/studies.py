"""The detection and action studies over noise rates, frequencies and both simulations, and one report.

    python -m pipeline.studies --output-dir demo_output/studies          # make studies: the whole grid
    python -m pipeline.studies --generators room --rates 0.2 --frequencies 500hz --seeds 3   # a corner of it

Each cell of the grid (generator x frequency x share of mislabeled takes) is one
`pipeline.multi_seed` study in `<output>/<generator>_<frequency>_r<percent>/`: new
recordings, faults (the mislabels 60% far and 40% near, plus one take of each other fault
kind), split and training per seed. At `--retrain-frequencies` (default 500 Hz) every action
on the tutorial's list and its controls is retrained with `--training-seeds` seeds; elsewhere
the lists are scored only. Seeds whose `results.json` exists for the same settings are kept,
so an interrupted grid continues where it stopped. With cleanlab and scikit-learn installed
(benchmarks/requirements-peers.txt), the confident-learning peer runs on every cell
(benchmarks/bench_peers.py). `<output>/studies_report.md` and `studies_summary.json` gather
every cell's figures, as they came out.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipeline.multi_seed import TARGETS, fmt, oracle_gain_measurable
from pipeline.report import label, suggestion_cells
from pipeline.steps import REPO
from utils.atomic_io import json_safe, read_json, write_json_atomic, write_text_atomic
from utils.cli import add_execution_args, make_parser, run_cli, setup_logging
from utils.constants import FREQUENCIES
from utils.markdown import table
from utils.threads import apply_threads

GENERATORS = ("demo", "room")
RATES = (0.03, 0.1, 0.2)
PEER_SAME = "peer: cleanlab, as many as the default list"
PEER_OWN = "peer: cleanlab, its own cut"


def cell_dir(out: Path, generator: str, frequency: str, rate: float) -> Path:
    return out / f"{generator}_{frequency}_r{round(rate * 100):02d}"


def cell_command(args: argparse.Namespace, generator: str, frequency: str, rate: float) -> list[str]:
    """The multi_seed command of one cell."""
    seeds = args.seeds if frequency == FREQUENCIES[0] else args.seeds_other
    retrain = frequency in args.retrain_frequencies
    cmd = [sys.executable, "-m", "pipeline.multi_seed", "--seeds", *map(str, range(seeds)), "--takes", str(args.takes),
           "--generator", generator, "--frequency", frequency, "--mislabel-rate", str(rate), "--keep-done",
           "--output-dir", str(cell_dir(args.output_dir, generator, frequency, rate)), "--threads", "1",
           "--training-seeds", str(args.training_seeds if retrain else 1)]
    return cmd + ([] if retrain else ["--no-retrain"])


def run_cell(args: argparse.Namespace, cell: tuple[str, str, float]) -> tuple[tuple[str, str, float], int]:
    """One cell's study, then its peer when the peer's packages are installed; its log beside it."""
    folder = cell_dir(args.output_dir, *cell)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "study.log", "a", encoding="utf-8") as log:
        code = subprocess.call(cell_command(args, *cell), cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        if code == 0 and args.peers:
            code = subprocess.call([sys.executable, "benchmarks/bench_peers.py", str(folder)], cwd=REPO, stdout=log,
                                   stderr=subprocess.STDOUT)
            code = code or subprocess.call([sys.executable, "-m", "pipeline.multi_seed", "--from-results", "--seeds",
                                            *map(str, read_json(folder / "multi_seed_summary.json", "summary")["seeds"]),
                                            "--output-dir", str(folder)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    log_file = folder / "study.log"
    print(f"{folder.name}: " + ("done" if code == 0 else f"failed (exit {code}), see {log_file}"), flush=True)
    return cell, code


def _caught(d: dict[str, Any]) -> str:
    """A list's mislabels caught of planted, its precision and its length over the seeds: "c/p (precision, listed)"."""
    return f"{d['mislabels'][0]}/{d['mislabels'][1]} ({fmt(d['precision'], 2)}, {sum(d['listed'])})"


def _detection_row(cell: tuple[str, str, float], s: dict[str, Any]) -> list[str]:
    d = s["detection"]["tutorial"]
    same, own = s["peers"].get(PEER_SAME), s["peers"].get(PEER_OWN)
    peer = "n/a" if not same else f"{same['mislabels'][0]}/{same['mislabels'][1]}"
    peer_own = "n/a" if not own else _caught(own)
    return [cell[0], cell[1], f"{cell[2]:.0%}", str(len(s["seeds"])),
            f"{d['mislabels'][0]}/{d['mislabels'][1]} = {fmt(d['mislabel_recall'], 2)} ± {fmt(d['recall_ci95'], 2)}",
            f"{fmt(d['precision'], 2)} ± {fmt(d['precision_ci95'], 2)}", str(sum(d["listed"])),
            f"{d['seeds_within_twice']}/{len(s['seeds'])}", peer, peer_own, *suggestion_cells(d)]


def _gain_row(cell: tuple[str, str, float], s: dict[str, Any]) -> list[str]:
    def cell_of(k: str) -> str:
        g = s["gains"].get(k)
        return "" if g is None else f"{g['mean']:+.3f} ± {g['ci95']:.3f}"

    def share(k: str, oracle: str) -> str:
        v = s["gains"].get(k, {}).get(f"share_of_{oracle}")
        o = s["gains"].get(oracle)
        if not v or o is None:
            return ""
        if not oracle_gain_measurable(o):  # a share of a gain within noise means nothing
            return "no measurable oracle gain"
        return f"{fmt(v['share'], 2)} [{fmt(v['low'], 2)}, {fmt(v['high'], 2)}]"

    return [cell[0], cell[1], f"{cell[2]:.0%}", *(cell_of(k) for k in ("exclude", "act", "random", "oracle", "oracle-relabel")),
            share("exclude", "oracle"), share("act", "oracle-relabel")]


def _rules_table(summaries: dict[tuple[str, str, float], dict[str, Any]]) -> list[str]:
    """Every rule and the peer side by side, one row per cell: mislabels caught (precision, listed over the seeds)."""
    names = list(dict.fromkeys(k for s in summaries.values() for k in s["detection"] if k not in ("tutorial", "oracle")))
    peers = (PEER_SAME, PEER_OWN)

    def entry(d: dict[str, Any] | None) -> str:
        return "" if not d else _caught(d)

    rows = [[c[0], c[1], f"{c[2]:.0%}", *(entry(s["detection"].get(k)) for k in names), *(entry(s["peers"].get(k)) for k in peers)]
            for c, s in summaries.items()]
    return table(["generator", "frequency", "mislabeled", *(label(k) for k in names), *peers], rows)


def report(out: Path, cells: list[tuple[str, str, float]]) -> list[str]:
    """studies_report.md and studies_summary.json from every finished cell."""
    summaries = {}
    for cell in cells:
        path = cell_dir(out, *cell) / "multi_seed_summary.json"
        if path.is_file():
            summaries[cell] = read_json(path, "study summary")
    detection = [_detection_row(c, s) for c, s in summaries.items()]
    gains = [_gain_row(c, s) for c, s in summaries.items() if s["gains"]]
    lines = ["# Detection and action studies", "",
             f"Targets (issues 17 and 18): at 10% and 20% mislabeled, recall >= {TARGETS['recall_high_rate']} and precision "
             f">= {TARGETS['precision']}, and at least the peer's catch with a list as long; at 3%, recall >= "
             f"{TARGETS['recall_low_rate']} with lists within 2x the planted faults; suggestions right for >= "
             f"{TARGETS['far_suggested']} of caught far and >= {TARGETS['near_suggested']} of caught near mislabels, fewer "
             f"than {TARGETS['wrong_suggestions']} of suggestions to takes not mislabeled; the recommended action "
             f">= {TARGETS['oracle_share']} of its oracle's gain. Each cell's own report: `<cell>/multi_seed_report.md`.",
             "", "## The tutorial's command (the default rule), every cell", "",
             *table(["generator", "frequency", "mislabeled", "seeds", "mislabels caught", "precision", "listed",
                     "lists within 2x planted", "peer, as many listed", "peer, own cut (precision, listed)",
                     "suggestion right (far)", "(near)", "suggestions to takes not mislabeled"], detection),
             "", "## Every rule and the peer, every cell: mislabels caught (precision, listed over the seeds)", "",
             *_rules_table(summaries)]
    if gains:
        lines += ["", "## Clean-holdout gain of each action (mean ± 95% interval over seeds)", "",
                  *table(["generator", "frequency", "mislabeled", "exclude", "act (relabel + exclude)", "random", "oracle",
                          "oracle relabel", "exclude: share of oracle", "act: share of oracle relabel"], gains)]
    write_text_atomic(out / "studies_report.md", "\n".join(lines) + "\n")
    write_json_atomic(out / "studies_summary.json", json_safe({"_".join(map(str, c)): s for c, s in summaries.items()}))
    return lines


def main(argv: list[str] | None = None) -> int:
    p = make_parser(__doc__)
    p.add_argument("--output-dir", type=Path, default=Path("demo_output/studies"))
    p.add_argument("--generators", nargs="+", choices=GENERATORS, default=list(GENERATORS))
    p.add_argument("--frequencies", nargs="+", choices=FREQUENCIES, default=list(FREQUENCIES))
    p.add_argument("--rates", nargs="+", type=float, default=list(RATES), help="shares of mislabeled takes")
    p.add_argument("--seeds", type=int, default=10, help="seeds per cell at the first frequency (500hz)")
    p.add_argument("--seeds-other", type=int, default=5, help="seeds per cell at the other frequencies")
    p.add_argument("--takes", type=int, default=24, help="takes per angle")
    p.add_argument("--training-seeds", type=int, default=3, help="training seeds of every retrained model")
    p.add_argument("--retrain-frequencies", nargs="*", choices=FREQUENCIES, default=[FREQUENCIES[0]],
                   help="where the actions are retrained (elsewhere the lists are scored only)")
    p.add_argument("--jobs", type=int, default=2, help="cells run at once (each one thread)")
    p.add_argument("--no-peers", dest="peers", action="store_false", help="skip the cleanlab peer")
    p.add_argument("--report-only", action="store_true", help="only gather the finished cells into the report")
    add_execution_args(p)
    args = p.parse_args(argv)
    setup_logging()
    apply_threads(args.threads)
    if args.peers:
        try:
            import cleanlab  # noqa: F401
            import sklearn  # noqa: F401
        except ImportError:
            print("studies: the cleanlab peer is skipped (pip install -r benchmarks/requirements-peers.txt -c "
                  "constraints.txt to run it)", flush=True)
            args.peers = False
    cells = [(g, f, r) for g in args.generators for f in args.frequencies for r in args.rates]
    failed = []
    if not args.report_only:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            failed = [cell for cell, code in pool.map(lambda c: run_cell(args, c), cells) if code != 0]
    lines = report(args.output_dir, cells)
    print("\n".join(lines[lines.index("## The tutorial's command (the default rule), every cell"):]))
    if failed:
        print(f"studies: error: {len(failed)} cell(s) failed: {', '.join(cell_dir(args.output_dir, *c).name for c in failed)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    run_cli(main, "studies")
