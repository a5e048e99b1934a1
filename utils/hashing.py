"""Content digests: of a file's bytes, and short fingerprints of JSON-ready values."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

FINGERPRINT_HEX = 16


def bytes_digest(data: bytes) -> str:
    """sha256 of `data`, as hex."""
    return hashlib.sha256(data).hexdigest()


def file_digest(path: str | Path, chunk: int = 1 << 20) -> tuple[int, str]:
    """`(size in bytes, sha256 hex)` of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            h.update(block)
            size += len(block)
    return size, h.hexdigest()


def fingerprint(value: Any) -> str:
    """A short hex digest (sha256, first 16 hex digits) of a JSON-ready value, keys sorted."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:FINGERPRINT_HEX]
