"""Writing what generate_tracin_exclusions.py decided, all or nothing.

The list, the relabel suggestions, the sample metadata (with --update-metadata), the picture
(with --plot) and the review sheet are one change (`utils.backups.write_together`): every
folder and the free space are checked before anything is written, the old list, relabel file
and metadata are kept as dated backups that never replace an earlier one (the newest 5 are
kept), and the files are renamed into place together. When anything fails (a full disk
included), nothing has changed: no file and no backup; a kill between two renames is
finished by the next generate (`utils.staging.recover_staging`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from datasets.metadata import MetadataStore
from exclusion.list_file import ExclusionFilePlan, list_output
from utils.atomic_io import json_text
from utils.backups import Output, write_together


@dataclass
class WrittenOutputs:
    list_written: bool = False
    list_backup: Path | None = None
    metadata_written: bool = False
    metadata_backup: Path | None = None
    backups: dict[Path, Path] = field(default_factory=dict)
    """Every file replaced -> its new dated backup."""


def write_exclusion_outputs(
    plan: ExclusionFilePlan,
    store: MetadataStore | None = None,
    extra: Sequence[Output] = (),
) -> WrittenOutputs:
    """Write the list when it changed, `store` when given and changed, and the `extra` outputs, as one change."""
    outputs = []
    if plan.text is not None:
        outputs.append(list_output(plan))
    write_store = store is not None and (store.changed or not store.path.exists())
    if write_store:
        outputs.append(Output.of_text(store.path, json_text(store.records), backup=True))
    outputs.extend(extra)
    backups = write_together(outputs) if outputs else {}
    if write_store:
        store.mark_saved()
    result = WrittenOutputs(plan.text is not None, backups.get(plan.update.path), write_store,
                            backups.get(store.path) if store is not None else None, backups)
    plan.update.written, plan.update.backup = result.list_written, result.list_backup
    return result
