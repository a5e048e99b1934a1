"""Relabel files: the tool's lines carry the angle they suggested, so every hand edit shows and is kept."""
from __future__ import annotations

import pytest

from datasets.relabels import ADDED, CHANGED, COMMENTED_OUT, KeptEdit, load_relabels, render_relabels

A, B, C, D = "plastic_deg000_500hz_01", "plastic_deg036_500hz_01", "plastic_deg072_500hz_01", "plastic_deg108_500hz_01"


def test_hand_edits_are_kept_and_reported(tmp_path):
    first = render_relabels([(A, 108, 0, "misfit"), (B, 0, 36, "pairs"), (C, 0, 72, "misfit")], "x.txt", stamp="s1").text
    assert f"{A}  108  # tracin: suggested 108; stored 0; misfit" in first.splitlines()
    edited = (first.replace(f"{A}  108  #", f"{A}  72  #")                       # an angle changed
              .replace(f"{B}  0", f"# {B}  0") + f"{D}  36  # mine\n# take 3 sounds off\n")  # one commented out, one added
    plan = render_relabels([(A, 108, 0, "misfit"), (B, 0, 36, "pairs")], "x.txt", edited, stamp="s2")
    lines = plan.text.splitlines()
    assert f"{A}  72  # tracin: suggested 108; stored 0; misfit" in lines and f"# {B}  0  # tracin: suggested 0; stored 36;" \
        " pairs" in lines
    assert f"{D}  36  # mine" in lines and "# take 3 sounds off" in lines and "# generate stamp: s2" in lines
    assert not [ln for ln in lines if ln.startswith(C)]  # the tool's own line, no longer suggested: gone
    assert plan.kept == [KeptEdit(B, COMMENTED_OUT, 0), KeptEdit(A, CHANGED, 108), KeptEdit(D, ADDED, None)]
    path = tmp_path / "x_relabel.txt"
    path.write_text(plan.text)
    assert load_relabels(path) == {A: 72, D: 36}
    again = render_relabels([(A, 108, 0, "misfit"), (B, 0, 36, "pairs")], "x.txt", plan.text, stamp="s2")
    assert again.text == plan.text  # nothing more to change


def test_lines_of_the_earlier_format_are_the_tools():
    earlier = f"# Suggested angles for recordings on x.txt, where ...\n{A}  108  # stored 0; misfit\n"
    plan = render_relabels([(A, 144, 0, "misfit")], "x.txt", earlier)
    assert f"{A}  144  # tracin: suggested 144; stored 0; misfit" in plan.text and plan.kept == []


def test_an_id_named_twice_is_refused(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text(f"{A}  36\n{A}  36\n")
    with pytest.raises(ValueError, match=f"names {A} twice \\(lines 1 and 2\\)"):
        load_relabels(path)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        load_relabels(tmp_path)
