"""The run folder's life: refused early when it exists, created and locked, resumed, marked complete.

- `check_run_folder(cfg)`, before any work (no spectrogram is computed first): an existing
  run is refused unless --overwrite (it is then kept, renamed) or --resume (it must be an
  incomplete run, started with the same settings).
- `open_run_folder(cfg)`: creates the folder and holds its lock (`utils.locking`) while the
  run writes into it; checks again under the lock (another train.py may have started the same
  run meanwhile). A run that fails before writing its run.json leaves no folder behind.
- run.json says `"complete": false` until train.py rewrites it last (`trainer.train`).

Importing this module needs no torch.
"""
from __future__ import annotations

import contextlib
import logging
import shutil
from datetime import datetime
from pathlib import Path
from typing import Iterator

from training.config import EXECUTION_ONLY, TrainConfig
from training.records import TrainingRun
from utils.constants import LOCK_FILE, RUN_FILE
from utils.locking import folder_lock

log = logging.getLogger(__name__)


def has_run(run_dir: Path) -> bool:
    """Whether `run_dir` holds anything of a run (its lock file aside)."""
    return run_dir.is_dir() and any(p.name != LOCK_FILE for p in run_dir.iterdir())


def resume_differences(cfg: TrainConfig, stored: TrainConfig) -> list[str]:
    """`name: stored -> given` for each setting (execution-only ones aside) that differs from the stored run."""
    given, before = cfg.to_dict(), stored.to_dict()
    return [f"{k} {before.get(k)!r} -> {v!r}" for k, v in given.items()
            if k not in EXECUTION_ONLY and k in before and before.get(k) != v]


def check_run_folder(cfg: TrainConfig) -> TrainingRun | None:
    """Refuse, in one line, a run folder that cannot be used as asked; return the stored run.json with --resume."""
    run_dir = cfg.run_dir
    run_file = run_dir / RUN_FILE
    if cfg.resume:
        if not run_file.is_file():
            raise FileNotFoundError(f"--resume: {run_dir} holds no run to resume (no {RUN_FILE}); start it without --resume")
        info = TrainingRun.read(run_dir)
        if info.config is None:
            raise ValueError(f"--resume: {run_file} holds no run configuration")
        if info.complete:
            raise ValueError(f"--resume: {run_dir} is complete (epoch {info.final_epoch}): nothing to resume")
        differences = resume_differences(cfg, info.config)
        if differences:
            raise ValueError(f"--resume: {run_dir} was started with other settings ({'; '.join(differences)}):"
                             " resume it with the flags it was started with")
        return info
    if has_run(run_dir) and not cfg.overwrite:
        incomplete = run_file.is_file() and not _complete_quietly(run_dir)
        raise FileExistsError(
            f"run folder {run_dir} already exists: pass --run-name NAME for a new run, or --overwrite"
            " (the old folder is then kept as a dated copy)"
            + ("; it is an unfinished run: --resume continues it" if incomplete else "")
        )
    return None


def _complete_quietly(run_dir: Path) -> bool:
    """Whether run.json says the run is complete (False when it cannot be read)."""
    try:
        return TrainingRun.read(run_dir).complete is True
    except ValueError:
        return False


def _move_aside(run_dir: Path) -> Path:
    stamp = datetime.now().strftime(".old-%Y%m%d-%H%M%S")
    kept = run_dir.with_name(run_dir.name + stamp)
    n = 1
    while kept.exists():
        n += 1
        kept = run_dir.with_name(f"{run_dir.name}{stamp}-{n}")
    run_dir.rename(kept)
    log.warning("moved the previous run to %s", kept)
    return kept


@contextlib.contextmanager
def open_run_folder(cfg: TrainConfig) -> Iterator[Path]:
    """The run folder, created (or, with --overwrite, replaced) and locked for the body."""
    run_dir = cfg.run_dir
    while True:
        created = not run_dir.exists()
        run_dir.mkdir(parents=True, exist_ok=True)
        with folder_lock(run_dir, cfg.lock_timeout):
            if not run_dir.is_dir():
                continue  # removed, while this process waited, by a run that failed before it began
            try:
                check_run_folder(cfg)  # again, under the lock: another train.py may have started it
                if cfg.overwrite and has_run(run_dir):
                    kept = _move_aside(run_dir)
                    (kept / LOCK_FILE).unlink(missing_ok=True)  # still held; the new folder gets its own
                    run_dir.mkdir()
                    created = True
                    with folder_lock(run_dir, cfg.lock_timeout):
                        yield run_dir
                else:
                    yield run_dir
            except BaseException:
                if created and not has_run(run_dir):
                    shutil.rmtree(run_dir, ignore_errors=True)  # refused or failed before it began: no trace
                raise
            return
