"""Generate stamps: read back from the files generate writes, and a set of two runs refused in one line."""
from __future__ import annotations

import json

import pytest

from datasets.stamps import (
    check_one_generate_run,
    list_file_for,
    list_stamp_line,
    read_stamp,
    relabel_file_for,
)

S1, S2 = "0123456789abcdef", "fedcba9876543210"


def write_set(folder, list_stamp, relabel_stamp, metadata_stamp=None):
    lst = folder / "x_tracin_exclusions.txt"
    meta = folder / "x_metadata.json"
    stamp_line = list_stamp_line(list_stamp, meta.resolve()) if list_stamp else "# (an earlier version)"
    lst.write_text(f"# TracIn exclusion list, written 2026-01-01\n{stamp_line}\n# {'-' * 70}\nplastic_deg000_500hz_01\n")
    relabel_file_for(lst).write_text("# Suggested angles for recordings on x_tracin_exclusions.txt, ...\n"
                                     + (f"# generate stamp: {relabel_stamp}\n" if relabel_stamp else ""))
    if metadata_stamp:
        info = {"generate_stamp": metadata_stamp, "list_file": str(lst.resolve())}
        meta.write_text(json.dumps({"plastic_deg000_500hz_01": {"excluded": True, "tracin_info": info}}))
    return lst


def test_stamps_read_back_with_the_metadata_they_name(tmp_path):
    lst = write_set(tmp_path, S1, S1, S1)
    stamp = read_stamp(lst)
    assert (stamp.stamp, stamp.metadata) == (S1, (tmp_path / "x_metadata.json").resolve())
    assert read_stamp(relabel_file_for(lst)).stamp == S1
    assert list_file_for(relabel_file_for(lst)) == lst and list_file_for(lst) is None
    check_one_generate_run(lst)
    check_one_generate_run(relabel_file=relabel_file_for(lst))
    hand_written = tmp_path / "mine.txt"
    hand_written.write_text("plastic_deg000_500hz_01\n")
    assert read_stamp(hand_written) is None and read_stamp(tmp_path / "missing.txt") is None
    check_one_generate_run(hand_written)


@pytest.mark.parametrize("relabel, metadata, words", [
    (S2, S1, f"is from generate run {S2}, but the list"),
    (S1, S2, f"says the list {{list}} is from generate run {S2}, but the list is from generate run {S1}"),
    ("", S1, "is from an earlier version (no generate stamp)"),
])
def test_a_set_of_two_runs_is_refused_in_one_line(tmp_path, relabel, metadata, words):
    lst = write_set(tmp_path, S1, relabel, metadata)
    for kwargs in ({"exclusions_file": lst}, {"relabel_file": relabel_file_for(lst)}):
        with pytest.raises(ValueError) as exc:
            check_one_generate_run(**kwargs)
        assert words.format(list=lst) in str(exc.value) and "\n" not in str(exc.value)
        assert "run it again (the same command)" in str(exc.value)


def test_files_without_stamps_are_not_checked(tmp_path):
    check_one_generate_run(write_set(tmp_path, "", ""))
