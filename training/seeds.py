"""`train.py --seeds S [S ...]`: one run per training seed, and the matching baselines where they are missing.

Run names get `_seed<S>`: `plastic_500hz_standard_excl_<list>_seed1` beside its baseline
`plastic_500hz_standard_seed1` (the same flags and split, no list or relabel file). A baseline
that is already there is reused when it finished with the same settings, and so is a seed's
run trained on the same list and relabel file (so `--seeds 1 2 3` after `--seeds 1 2` trains
seed 3 only, and judges all three); one that did not finish, or was trained with other
settings or inputs, is refused in one line (nothing is guessed). `--overwrite` retrains the runs.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from training.config import EXECUTION_ONLY, TrainConfig
from training.records import TrainingRun
from training.run_folder import check_run_folder
from utils.constants import RUN_FILE

if TYPE_CHECKING:
    from training.verdict import Verdict

NOT_COMPARED = (*EXECUTION_ONLY, "run_name", "seed", "exclusions_file", "relabel_file", "metadata_file",
                "allow_unknown_exclusions", "device")
"""Fields a reused baseline may differ in: how it was run, or what makes it the baseline."""


def seed_run(cfg: TrainConfig, seed: int) -> TrainConfig:
    """`cfg` with training seed `seed`, named `<its run name>_seed<seed>`."""
    return replace(cfg, seed=seed, run_name=f"{cfg.run_name or cfg.default_run_name()}_seed{seed}")


def baseline_run(cfg: TrainConfig, seed: int) -> TrainConfig:
    """The baseline of `cfg` at `seed`: no list, no relabel file, the default name plus `_seed<seed>`."""
    base = replace(cfg, exclusions_file=None, relabel_file=None, run_name=None, seed=seed)
    return replace(base, run_name=f"{base.default_run_name()}_seed{seed}")


@dataclass
class SeedPlan:
    """What `--seeds` will train: the runs and each seed's baseline, with whether each must be trained."""

    seeds: list[int]
    runs: list[TrainConfig]
    baselines: list[TrainConfig]
    train_baseline: list[bool]
    train_run: list[bool]

    @property
    def compares(self) -> bool:
        """Whether the runs have a list or relabel file (plain seeds are baselines themselves)."""
        return bool(self.runs) and (self.runs[0].exclusions_file is not None or self.runs[0].relabel_file is not None)


def _changed_inputs(cfg: TrainConfig, run: TrainingRun) -> list[str]:
    """What of the list and relabel file differs from what the finished run `run` (its run.json) trained with."""
    from datasets.exclusions import load_exclusions
    from datasets.relabels import load_relabels

    relabels = load_relabels(cfg.relabel_file) if cfg.relabel_file is not None else {}
    listed = set(load_exclusions(cfg.exclusions_file).ids) - set(relabels) if cfg.exclusions_file is not None else set()
    changed = []
    if not listed <= set(run.excluded_ids) | set(run.unknown_excluded_ids) or not set(run.excluded_ids) <= listed:
        changed.append("the exclusions")
    if {k: int(v) for k, v in relabels.items()} != {k: int(v) for k, v in run.relabeled.items()}:
        changed.append("the relabels")
    return changed


def existing_run(cfg: TrainConfig, what: str = "baseline run") -> bool:
    """Whether the run `cfg` already finished with the same settings and inputs; refuses one that cannot be reused."""
    run_file = cfg.run_dir / RUN_FILE
    if not cfg.run_dir.exists():
        return False
    stored_run = TrainingRun.read(cfg.run_dir) if run_file.is_file() else None
    if stored_run is None or not stored_run.complete:
        raise ValueError(f"the {what} {cfg.run_dir} exists but did not finish: finish it (train.py with its "
                         "flags and --resume) or move it away, then run again")
    stored = stored_run.config
    if stored is None:
        raise ValueError(f"{run_file} holds no run configuration: move the run away to have it trained again")
    differing = [k for k, v in cfg.to_dict().items() if k not in NOT_COMPARED and stored.to_dict().get(k) != v]
    differing += _changed_inputs(cfg, stored_run)
    if differing:
        raise ValueError(f"the {what} {cfg.run_dir} was trained with other settings ({', '.join(differing)}): "
                         "pass the same flags, or move it away to have it trained again")
    return True


def plan_seeds(cfg: TrainConfig, seeds: Sequence[int]) -> SeedPlan:
    """The runs and baselines of `--seeds`; checks every existing baseline before anything trains."""
    seeds = list(dict.fromkeys(int(s) for s in seeds))
    runs = [seed_run(cfg, s) for s in seeds]
    compares = cfg.exclusions_file is not None or cfg.relabel_file is not None
    baselines = [baseline_run(cfg, s) for s in seeds] if compares else []
    train_run = [cfg.overwrite or not existing_run(r, "run") for r in runs]
    return SeedPlan(seeds, runs, baselines, [not existing_run(b) for b in baselines], train_run)


def verdict_path(plan: SeedPlan) -> Path:
    """`<checkpoints>/<retrain name without the seed>_verdict` (`.json`, `.png` added)."""
    first = plan.runs[0]
    return first.run_dir.parent / f"{first.run_dir.name.rsplit('_seed', 1)[0]}_verdict"


def train_plan(plan: SeedPlan, train: Callable[[TrainConfig, bool], object], say: Callable[[str], None]) -> Verdict | None:
    """Train what `plan` lacks, every missing run's folder checked before the first trains; `train(cfg, baseline)`
    trains and reports one run, `say` reports a reused one. -> the paired verdict of the runs against their baselines
    (`training.verdict`), or None when the runs have no list or relabel file to judge."""
    from training.verdict import paired_verdict

    for run, missing in [*zip(plan.runs, plan.train_run), *zip(plan.baselines, plan.train_baseline)]:
        if missing:
            check_run_folder(run)
    for k, run in enumerate(plan.runs):
        if plan.compares and plan.train_baseline[k]:
            train(plan.baselines[k], True)
        elif plan.compares:
            say(f"baseline of seed {plan.seeds[k]}: {plan.baselines[k].run_dir} (already trained, reused)")
        if plan.train_run[k]:
            train(run, False)
        else:
            say(f"seed {plan.seeds[k]}: {run.run_dir} (already trained on the same list, reused)")
    if not plan.compares:
        return None
    return paired_verdict(plan.seeds, [b.run_dir for b in plan.baselines], [r.run_dir for r in plan.runs])
