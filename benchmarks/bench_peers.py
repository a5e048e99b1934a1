"""The strongest simple peer, side by side: confident learning (cleanlab) on the same recordings, split and seeds.

    pip install -r benchmarks/requirements-peers.txt -c constraints.txt    # cleanlab, scikit-learn (benchmark only)
    python benchmarks/bench_peers.py demo_output/multi_seed                  # after `make demo-seeds` (or a study)

For every `seed_<N>/` of a study folder (what `pipeline.multi_seed` writes), the peer reads the
same recordings and the same split as the toolkit's run on that seed (the baseline's
run.json), never the truth file until it scores:

- features: the level of harmonics 2..8 relative to the fundamental, in dB, as measured
  (`datasets.harmonics.harmonic_levels_db`, the same spectrograms the toolkit reads),
  standardised; harmonics above the Nyquist frequency dropped;
- model: multinomial logistic regression (scikit-learn, C = 1), out-of-fold probabilities
  from 5 stratified folds over the training and validation recordings (what the toolkit's
  `profile` criterion also fits on);
- cleanlab's `find_label_issues` on those probabilities, its own cut; and, to compare lists
  of equal length, the training takes of lowest self-confidence, as many as the toolkit's
  default list holds on that seed.

Each seed gets `peers.json`; the study folder gets `peers_summary.json`, which the multi-seed
report (`python -m pipeline.multi_seed --from-results ...`) puts beside every rule.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datasets.audio_dataset import AudioSpectrumDataset  # noqa: E402
from datasets.harmonics import harmonic_levels_db  # noqa: E402
from pipeline.evaluate import detection_score  # noqa: E402
from training.records import TrainingRun  # noqa: E402
from utils.atomic_io import json_safe, read_json, write_json_atomic  # noqa: E402
from utils.constants import frequency_hz  # noqa: E402

FOLDS = 5
PEER_OWN = "peer: cleanlab, its own cut"
PEER_SAME_LENGTH = "peer: cleanlab, as many as the default list"


def peer_features(dataset: AudioSpectrumDataset, indices: np.ndarray, frequency: str) -> np.ndarray:
    """(n, harmonics that exist - 1): levels of harmonics 2..8 in dB relative to the fundamental."""
    levels = harmonic_levels_db(np.asarray(dataset.spectrograms[indices]), frequency_hz(frequency),
                                dataset.config.spectrogram)[:, 1:]
    return np.nan_to_num(levels[:, ~np.isnan(levels).all(axis=0)])


def out_of_fold_probabilities(x: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """(n, classes) probabilities of a standardised logistic regression, each row from the fold that left it out."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folds = min(FOLDS, int(np.bincount(labels).min()))
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))
    return cross_val_predict(model, x, labels, cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
                             method="predict_proba")


def peer_for_seed(seed_dir: Path) -> dict:
    """The peer's two lists for one seed of a study, scored like the toolkit's (`pipeline.evaluate`)."""
    from cleanlab.filter import find_label_issues

    results = read_json(seed_dir / "results.json", "demo results")
    baseline = Path(results["runs"]["baseline"][0])
    run = TrainingRun.read(baseline)
    cfg = run.config
    dataset = AudioSpectrumDataset(cfg.dataset_config(data_root=seed_dir / "data", exclusions_file=None,
                                                      relabel_file=None), progress=False, register=False)
    train_ids, val_ids = sorted(run.split["train"]), sorted(run.split["validation"])
    used = dataset.indices(train_ids + val_ids)
    angles, labels = np.unique(dataset.stored_angles[used], return_inverse=True)
    probs = out_of_fold_probabilities(peer_features(dataset, used, cfg.frequency), labels, int(results["seed"]))
    train_rows = np.arange(len(train_ids))
    issues = set(find_label_issues(labels, probs, filter_by="prune_by_noise_rate").nonzero()[0].tolist())
    own = [train_ids[r] for r in train_rows if r in issues]
    confidence = probs[train_rows, labels[train_rows]]
    length = len(results["lists"].get("default", []))
    same = [train_ids[r] for r in np.argsort(confidence, kind="stable")[:length]]
    truth = read_json(seed_dir / "truth.json", "truth file")["faults"]
    out = {PEER_OWN: own, PEER_SAME_LENGTH: same}
    return {"lists": out, "detection": {k: asdict(detection_score(v, train_ids, truth)) for k, v in out.items()},
            "features": "levels of harmonics 2..8 relative to the fundamental (dB)", "model": "logistic regression, "
            f"{FOLDS}-fold out-of-fold over training + validation", "cleanlab": "find_label_issues(prune_by_noise_rate)"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study", type=Path, help="a multi-seed study folder (seed_<N>/ inside)")
    args = p.parse_args(argv)
    try:
        import cleanlab  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError:
        print("bench_peers: error: the peer needs cleanlab and scikit-learn: pip install -r "
              "benchmarks/requirements-peers.txt -c constraints.txt", file=sys.stderr)
        return 1
    seeds = sorted(args.study.glob("seed_*/results.json"))
    if not seeds:
        print(f"bench_peers: error: no seed_<N>/results.json under {args.study}", file=sys.stderr)
        return 1
    summary = {}
    for path in seeds:
        result = peer_for_seed(path.parent)
        write_json_atomic(path.parent / "peers.json", json_safe(result))
        summary[path.parent.name] = result["detection"]
        d = result["detection"]
        print(f"{path.parent.name}: " + "; ".join(f"{k}: {v['caught_mislabeled']}/{v['mislabeled_in_train']} mislabels, "
                                                 f"{v['listed']} listed" for k, v in d.items()), flush=True)
    write_json_atomic(args.study / "peers_summary.json", json_safe(summary))
    print(f"wrote {args.study / 'peers_summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
