"""Markdown tables for the reports: one header, its separator, one line per row."""
from __future__ import annotations

from typing import Iterable, Sequence


def table_row(cells: Sequence[object]) -> str:
    """`| a | b | c |` (each cell as str)."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table(header: Sequence[object], rows: Iterable[Sequence[object]] = ()) -> list[str]:
    """The lines of a Markdown table: `header`, the `|---|` separator, then `rows`."""
    return [table_row(header), "|---" * len(header) + "|", *(table_row(r) for r in rows)]
