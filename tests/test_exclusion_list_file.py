"""Rewriting an exclusion list: hand edits survive, a backup is kept, an unchanged list is not rewritten."""
from __future__ import annotations

import pytest

from datasets.exclusions import load_exclusions
from exclusion.list_file import render_exclusion_file, update_exclusion_file
from utils.backups import list_backups

A, B, C = "plastic_deg000_500hz_01", "plastic_deg036_500hz_01", "plastic_deg072_500hz_01"


def test_first_write_then_hand_edits_are_kept(tmp_path):
    path = tmp_path / "list.txt"
    first = update_exclusion_file(path, ["criterion: pairs"], [A, B], "2026-01-01")
    assert first.written and not first.existed and first.backup is None
    assert load_exclusions(path).ids == [A, B]

    path.write_text(path.read_text().replace(f"{B}\n", f"# {B}\n").replace(f"{A}\n", f"{A}  # clipped\n") + "# checked\n")
    edited = path.read_bytes()
    second = update_exclusion_file(path, ["criterion: pairs"], [A, B, C], "2026-01-02")
    assert second.written and second.backup.read_bytes() == edited
    assert (second.added, second.removed, second.commented_out) == ([C], [], [B])
    text = path.read_text()
    assert f"{A}  # clipped" in text and "# checked" in text
    assert load_exclusions(path).ids == [A, C] and load_exclusions(path).commented_out == [B]


def test_only_a_new_date_does_not_rewrite(tmp_path):
    path = tmp_path / "list.txt"
    update_exclusion_file(path, ["criterion: pairs"], [A], "2026-01-01")
    before = path.read_bytes()
    again = update_exclusion_file(path, ["criterion: pairs"], [A], "2026-02-02")
    assert not again.written and path.read_bytes() == before and list_backups(path) == []


def test_a_header_line_that_reads_as_an_id_is_refused():
    with pytest.raises(ValueError, match="commented-out sample id"):
        render_exclusion_file("# date", [A], [B])
