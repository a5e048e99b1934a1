"""PNG figures for people: matplotlib on the Agg backend, Chinese text in Noto Sans TC, written atomically."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from utils.atomic_io import write_with_atomic  # noqa: E402
from utils.cjk_font import register  # noqa: E402

register()  # the venv's start-up hook does this already; here too for a venv set up by hand

__all__ = ["plt", "save_figure"]


def save_figure(fig: "plt.Figure", path: str | Path) -> None:
    """Write a figure atomically as PNG and close it."""
    write_with_atomic(path, lambda h: fig.savefig(h, format="png", dpi=110, bbox_inches="tight"), binary=True)
    plt.close(fig)
