"""Rewriting an exclusion list in the tutorial's format: hand edits survive both ways, a backup is
kept, an unchanged list is not rewritten, and the original tool's reader reads exactly the listed ids."""
from __future__ import annotations

import pytest

from datasets.exclusions import load_exclusions, read_layout, tool_notes
from exclusion.list_file import ExclusionFileUpdate, list_output, plan_exclusion_file, render_exclusion_file
from utils.backups import list_backups, write_together

A, B, C, D = "plastic_deg000_500hz_01", "plastic_deg036_500hz_01", "plastic_deg072_500hz_01", "plastic_deg108_500hz_02"
NOTES = {A: "pairs+misfit; suggested angle 180", B: "misfit", C: "pairs"}


def update_exclusion_file(path, header, ids, date, notes) -> ExclusionFileUpdate:
    """Plan the list, then write it as generate does (the old list kept as a dated backup)."""
    plan = plan_exclusion_file(path, header, ids, date, notes)
    if plan.text is not None:
        plan.update.backup = write_together([list_output(plan)]).get(plan.update.path)
        plan.update.written = True
    return plan.update


def original_reader(path) -> list[str]:
    """The original tool's reader, as the tutorial describes it: one id per line, `#` lines skipped."""
    ids = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line and not line.startswith("#"):
                ids.append(line)
    return ids


def test_the_original_reader_reads_exactly_the_listed_ids(tmp_path):
    path = tmp_path / "list.txt"
    update_exclusion_file(path, ["criterion: combined"], [A, B], "2026-01-01", NOTES)
    assert original_reader(path) == [A, B] == load_exclusions(path).ids
    text = path.read_text()
    assert f"# tracin: {NOTES[A]}\n{A}\n# tracin: {NOTES[B]}\n{B}\n" in text  # the note on the line above its id
    assert tool_notes(path) == {A: NOTES[A], B: NOTES[B]}
    # After hand edits (a comment on an id, an id commented out, an id added) and a re-run: still exact.
    path.write_text(text.replace(f"{B}\n", f"# {B}  listened: fine\n").replace(f"# tracin: {NOTES[A]}\n",
                    f"# tracin: {NOTES[A]}\n# clipped at 2 s\n") + f"# sounds odd\n{D}\n")
    update_exclusion_file(path, ["criterion: combined"], [A, B, C], "2026-01-02", NOTES)
    assert original_reader(path) == [A, C, D] == load_exclusions(path).ids


def test_hand_edits_survive_both_ways(tmp_path):
    path = tmp_path / "list.txt"
    first = update_exclusion_file(path, ["criterion: pairs"], [A, B], "2026-01-01", NOTES)
    assert first.written and not first.existed and first.backup is None
    text = path.read_text()
    text = text.replace(f"{B}\n", f"# {B}\n").replace(f"{A}\n", f"{A}  # clipped\n")  # an older trailing comment
    path.write_text(text + f"# checked\n\n# found by ear\n{D}\n")
    edited = path.read_bytes()
    second = update_exclusion_file(path, ["criterion: pairs"], [C], "2026-01-02", NOTES)
    assert second.written and second.backup.read_bytes() == edited
    assert (second.added, second.removed, second.commented_out, second.kept_by_hand) == ([C], [A], [B], [D])
    text = path.read_text()
    assert f"# found by ear\n{D}\n" in text and "# checked" in text and f"# {B}\n" in text
    assert f"# (on {A}, no longer listed) clipped" in text
    assert load_exclusions(path).ids == [C, D] and load_exclusions(path).commented_out == [B]
    # A's comment stays, at the end; the id the person added keeps its comment.
    layout = read_layout(text)
    assert [(e.sample_id, e.tool_note, e.notes) for e in layout.listed] == [(C, "pairs", []), (D, None, ["# found by ear"])]


def test_a_note_that_reads_as_an_id_or_as_the_tools_stays_a_note(tmp_path):
    path = tmp_path / "list.txt"
    update_exclusion_file(path, ["criterion: pairs"], [A], "2026-01-01", NOTES)
    path.write_text(path.read_text().replace(f"{A}\n", f"{A}  # {B} sounds the same\n"))
    update_exclusion_file(path, ["criterion: pairs"], [A], "2026-01-02", NOTES)
    parsed = load_exclusions(path)
    assert parsed.ids == [A] and parsed.commented_out == []  # B was not commented out by that note
    assert f"# note: {B} sounds the same\n# tracin:" not in path.read_text()
    assert f"# note: {B} sounds the same\n{A}\n" in path.read_text()


def test_lists_of_the_earlier_format_are_read_and_rewritten(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text(f"# TracIn exclusion list, written 2026-01-01\n# {'-' * 70}\n{A}  # mine | tracin: pairs\n"
                    f"{B}  # tracin: misfit; suggested angle 0\n")
    assert load_exclusions(path).ids == [A, B] and tool_notes(path) == {A: "pairs", B: "misfit; suggested angle 0"}
    update = update_exclusion_file(path, ["criterion: pairs"], [B], "2026-01-02", NOTES)
    assert update.removed == [A] and update.kept_by_hand == []  # A was the tool's: gone, not kept
    assert original_reader(path) == [B]


def test_only_a_new_date_does_not_rewrite(tmp_path):
    path = tmp_path / "list.txt"
    update_exclusion_file(path, ["criterion: pairs"], [A], "2026-01-01", NOTES)
    before = path.read_bytes()
    again = update_exclusion_file(path, ["criterion: pairs"], [A], "2026-02-02", NOTES)
    assert not again.written and path.read_bytes() == before and list_backups(path) == []
    assert plan_exclusion_file(path, ["criterion: pairs"], [A], "2026-03-03", NOTES, "# generate stamp: x").text


def test_a_header_line_that_reads_as_an_id_is_refused():
    with pytest.raises(ValueError, match="commented-out sample id"):
        render_exclusion_file("# date", [A], [B])
