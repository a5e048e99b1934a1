"""Atomic writes: a reader never sees half a file, and a crash never destroys the old one."""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path, PurePath
from typing import IO, Any, Callable


def _atomic_write(path: Path, write: Callable[[IO], None], mode: str) -> None:
    path = Path(path)
    parent = path.parent
    if not parent.exists():
        parent.mkdir(parents=True, exist_ok=True)
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"cannot write to folder {parent}: permission denied")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes 0600 files; keep the old file's mode, or what the umask gives a new one.
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def json_safe(value: Any) -> Any:
    """A copy of `value` that strict JSON can hold: NaN / infinity become None, paths strings, tuples lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` via a temp file in the same folder and a rename."""
    _atomic_write(Path(path), lambda h: h.write(text), "w")


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` via a temp file in the same folder and a rename."""
    _atomic_write(Path(path), lambda h: h.write(data), "wb")


def json_text(data: Any, indent: int | None = 2) -> str:
    """`data` as the JSON text every file of the toolkit holds (UTF-8 as is; no NaN: strict JSON only)."""
    return json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False)


def write_json_atomic(path: str | Path, data: Any, indent: int | None = 2) -> None:
    """Write `data` as JSON to `path` atomically (no NaN allowed: strict JSON only)."""
    _atomic_write(
        Path(path),
        lambda h: json.dump(data, h, indent=indent, ensure_ascii=False, allow_nan=False),
        "w",
    )


def write_with_atomic(path: str | Path, writer: Callable[[IO], None], binary: bool = False) -> None:
    """Call `writer(handle)` on a temp file in the target folder, then rename it over `path`."""
    _atomic_write(Path(path), writer, "wb" if binary else "w")


def read_json(path: str | Path, what: str = "JSON file") -> Any:
    """Read a JSON file; raise a one-line `ValueError` / `FileNotFoundError` naming it on failure."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        with open(path, "r", encoding="utf-8-sig") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{what} {path} is not UTF-8 text") from None
