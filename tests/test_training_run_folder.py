"""The run folder's life without training anything: refused when it exists (unless --overwrite or --resume),
resumed only when incomplete and started with the same settings, created and locked, kept aside on
--overwrite, and gone when a run fails before it began."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from training.config import TrainConfig
from training.records import TrainingRun
from training.run_folder import check_run_folder, has_run, open_run_folder, resume_differences
from utils.constants import LOCK_FILE


@pytest.fixture
def cfg(tmp_path) -> TrainConfig:
    return TrainConfig(frequency="500hz", data_root=tmp_path, run_name="r", epochs=4, progress=False)


def write_run(cfg: TrainConfig, complete: bool, **changes) -> None:
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    run = TrainingRun(config=replace(cfg, **changes), seed=cfg.seed, complete=complete, final_epoch=4 if complete else None)
    (cfg.run_dir / "run.json").write_text(json.dumps(run.to_dict()))


def test_a_new_folder_is_created_locked_and_kept(cfg):
    assert check_run_folder(cfg) is None and not has_run(cfg.run_dir)
    with open_run_folder(cfg) as run_dir:
        assert (run_dir / LOCK_FILE).is_file() and not has_run(run_dir)  # the lock file alone is no run
        (run_dir / "run.json").write_text("{}")
    assert has_run(cfg.run_dir) and not (cfg.run_dir / LOCK_FILE).exists()


def test_a_run_that_fails_before_it_began_leaves_no_folder(cfg):
    with pytest.raises(RuntimeError), open_run_folder(cfg):
        raise RuntimeError("failed before writing run.json")
    assert not cfg.run_dir.exists()


def test_an_existing_run_is_refused_unless_overwritten_which_keeps_it_aside(cfg):
    write_run(cfg, complete=False)
    with pytest.raises(FileExistsError, match="already exists: pass --run-name NAME .* unfinished run: --resume continues it"):
        check_run_folder(cfg)
    over = replace(cfg, overwrite=True)
    with open_run_folder(over) as run_dir:
        (run_dir / "run.json").write_text("{}")
    kept = [p for p in cfg.run_dir.parent.iterdir() if p.name.startswith("r.old-")]
    assert len(kept) == 1 and json.loads((kept[0] / "run.json").read_text())["complete"] is False


def test_resume_needs_an_unfinished_run_started_with_the_same_settings(cfg):
    resume = replace(cfg, resume=True)
    with pytest.raises(FileNotFoundError, match="holds no run to resume"):
        check_run_folder(resume)
    write_run(cfg, complete=True)
    with pytest.raises(ValueError, match=r"is complete \(epoch 4\): nothing to resume"):
        check_run_folder(resume)
    write_run(cfg, complete=False, learning_rate=0.01)
    with pytest.raises(ValueError, match=r"other settings \(learning_rate 0.01 -> 0.003\)"):
        check_run_folder(resume)
    write_run(cfg, complete=False, lock_timeout=99.0, progress=True)  # how a run is carried out may change
    assert check_run_folder(resume).config.lock_timeout == 99.0
    assert resume_differences(resume, replace(cfg, epochs=9)) == ["epochs 9 -> 4"]
    (cfg.run_dir / "run.json").write_text(json.dumps({"complete": False}))
    with pytest.raises(ValueError, match="holds no run configuration"):
        check_run_folder(resume)
