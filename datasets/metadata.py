"""The per-recording metadata store, `{material}_{frequency}_metadata.json`.

A JSON object: sample id -> record. Users add keys by hand and plot the file, so every
rewrite keeps keys this code does not know, and every write is atomic. A file that does not
parse is reported and never overwritten.
"""
from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any, Iterable, Mapping

from utils.atomic_io import read_json, write_json_atomic
from utils.backups import Output, write_together
from utils.constants import K_EXCLUDED, K_NOTES

log = logging.getLogger(__name__)


class MetadataStore:
    """Read, update and atomically write the sample metadata JSON."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.records: dict[str, dict[str, Any]] = {}
        self._on_disk: dict[str, dict[str, Any]] = {}

    @classmethod
    def load(cls, path: str | Path, must_exist: bool = False) -> "MetadataStore":
        """Load the store; a missing file gives an empty store unless `must_exist`."""
        store = cls(path)
        if store.path.exists():
            data = read_json(store.path, "sample metadata file")
            if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
                raise ValueError(
                    f"sample metadata file {store.path} must be a JSON object of sample id -> record"
                )
            store.records = data
        elif must_exist:
            raise FileNotFoundError(f"sample metadata file not found: {store.path}")
        store._on_disk = copy.deepcopy(store.records)
        return store

    def register(self, base_records: Iterable[Mapping[str, Any]]) -> None:
        """Add or refresh the base fields of each record; user keys, `excluded` and `notes` survive."""
        for base in base_records:
            sid = base["id"]
            record = self.records.setdefault(sid, {})
            record.update(base)
            record.setdefault(K_EXCLUDED, False)
            record.setdefault(K_NOTES, "")

    def update(self, sample_id: str, **fields: Any) -> None:
        """Set fields of one record (created if missing)."""
        self.records.setdefault(sample_id, {}).update(fields)

    def get(self, sample_id: str) -> dict[str, Any]:
        return self.records.get(sample_id, {})

    @property
    def changed(self) -> bool:
        return self.records != self._on_disk

    def mark_saved(self) -> None:
        """The records are on disk now (written by the caller, e.g. with other files as one change)."""
        self._on_disk = copy.deepcopy(self.records)

    def save(self, backup: bool = False) -> bool:
        """Write atomically if anything changed (with `backup`, the old file kept as a dated backup,
        `utils.backups`); return whether a write happened."""
        if not self.changed and self.path.exists():
            return False
        if backup:
            write_together([Output(self.path, lambda tmp: write_json_atomic(tmp, self.records), backup=True)])
        else:
            write_json_atomic(self.path, self.records)
        self._on_disk = copy.deepcopy(self.records)
        log.debug("wrote %s (%d records)", self.path, len(self.records))
        return True
