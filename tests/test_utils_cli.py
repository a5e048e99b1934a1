"""Script plumbing: flags to a config dataclass by field name, and --help that shows defaults."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import pytest

from utils.cli import config_from_args, make_parser


@dataclass
class Settings:
    name: str
    folder: Path | None = None
    rounds: int = 3
    progress: bool = True


def test_config_from_args_copies_fields_by_name_and_extra_wins():
    args = argparse.Namespace(name="x", folder=Path("f"), rounds=5, no_progress=True, unrelated="ignored")
    assert config_from_args(Settings, args, progress=not args.no_progress) == Settings("x", Path("f"), 5, False)
    assert config_from_args(Settings, argparse.Namespace(name="y")) == Settings("y")  # unset fields keep their defaults
    assert config_from_args(Settings, args, rounds=9).rounds == 9
    with pytest.raises(TypeError, match="no field typo"):
        config_from_args(Settings, args, typo=1)


def test_help_shows_every_default_a_switch_as_off_and_none_in_words():
    p = make_parser("Line one.\n\n    indented example\n")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--scale", type=float, default=0.5, help="how much")
    p.add_argument("--folder", default=None, help="default: somewhere")
    p.add_argument("--flag", action="store_true", help="a switch")
    p.add_argument("--required", required=True, help="must be given")
    text = p.format_help()
    assert "    indented example" in text  # the description keeps its layout
    assert "(default: 3)" in text and "how much (default: 0.5)" in text
    assert "(default: None)" not in text and "(default: False)" not in text
    assert "a switch (default: off)" in text
    assert text.count("(default:") == 3
