"""PNG figures for people: matplotlib on the Agg backend, Chinese text in Noto Sans TC, written atomically.

`figure()` makes a figure without pyplot, whose import (about half a second on top of
matplotlib's) only interactive use needs; `plt` (pyplot) is imported on first use, for the
modules that draw with it.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from utils.atomic_io import write_with_atomic  # noqa: E402
from utils.cjk_font import register  # noqa: E402

register()  # the venv's start-up hook does this already; here too for a venv set up by hand

__all__ = ["figure", "save_figure"]  # and `plt`, made on first use (__getattr__)


def __getattr__(name: str) -> Any:
    if name == "plt":
        import matplotlib.pyplot as plt

        return plt
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def figure(**kwargs: Any) -> Figure:
    """A figure drawn by Agg, without pyplot (`Figure(**kwargs)`)."""
    return Figure(**kwargs)


def save_figure(fig: Figure, path: str | Path) -> None:
    """Write a figure atomically as PNG and close it (in pyplot, when pyplot made it)."""
    write_with_atomic(path, lambda h: fig.savefig(h, format="png", dpi=110, bbox_inches="tight"), binary=True)
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)
