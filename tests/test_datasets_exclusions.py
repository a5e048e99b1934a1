"""Exclusion lists as people write them: parsing, a missing file, and the closest-id hint."""
from __future__ import annotations

import pytest

from datasets.exclusions import closest_id, load_exclusions, match_known_ids, parse_exclusions

HAND_WRITTEN = (
    "\ufeff# exclusions reviewed by hand\r\n"
    "\r\n"
    "   plastic_deg036_500hz_01   \r\n"
    "plastic_deg072_500hz_02  # door slam\r\n"
    "# plastic_deg000_500hz_01\r\n"
    "\t\r\n"
    "plastic_deg036_500hz_01\r\n"
    "plastic_deg108_500hz_2\r\n"
    "   # indented comment\r\n"
)


def test_exclusion_text_parsing():
    parsed = parse_exclusions(HAND_WRITTEN)
    assert parsed.ids == ["plastic_deg036_500hz_01", "plastic_deg072_500hz_02", "plastic_deg108_500hz_2"]
    assert parsed.commented_out == ["plastic_deg000_500hz_01"]


def test_missing_or_binary_exclusions_file_is_an_error(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError, match="exclusions file not found"):
        load_exclusions(missing)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00plastic")
    with pytest.raises(ValueError, match="not UTF-8"):
        load_exclusions(binary)


def test_closest_id_undoes_missing_zero_padding_and_case():
    known = ["plastic_deg108_500hz_01", "plastic_deg108_500hz_12", "plastic_deg036_500hz_04"]
    assert closest_id("plastic_deg108_500hz_1", known) == "plastic_deg108_500hz_01"
    assert closest_id("Plastic_deg36_500Hz_4", known) == "plastic_deg036_500hz_04"
    assert closest_id("plastik_deg036_500hz_04", known) == "plastic_deg036_500hz_04"
    assert closest_id("something else entirely", known) is None


def test_commented_out_ids_in_any_spelling_and_with_a_note():
    parsed = parse_exclusions(
        "# source: somewhere\n"
        "# PLASTIC_DEG036_500HZ_01\n"
        "#plastic_deg72_500hz_2   listened: fine\n"
        "# plastic_deg108_500hz_03 # too quiet\n"
        "# plastic_deg036_500hz_1\n"        # the same id again, spelled otherwise
        "# plastic_deg144_500hz_04\n"
        "plastic_deg144_500hz_4\n"          # listed: not commented out
        "# plastic deg180 is odd\n"
    )
    assert parsed.ids == ["plastic_deg144_500hz_4"]
    assert parsed.commented_out == ["PLASTIC_DEG036_500HZ_01", "plastic_deg72_500hz_2", "plastic_deg108_500hz_03"]
    known = ["plastic_deg036_500hz_01", "plastic_deg072_500hz_02", "plastic_deg108_500hz_03"]
    assert match_known_ids(parsed.commented_out, known) == known
