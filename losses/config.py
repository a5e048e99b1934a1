"""Loss names and default settings, defined once (importing this needs no torch)."""
from __future__ import annotations

LOSS_TYPES = ("standard", "ghm")
DEFAULT_LOSS_TYPE = "standard"
DEFAULT_MARGIN = 1.0
"""Margin m of the standard loss max(0, m - y s)."""
DEFAULT_GHM_BINS = 10
DEFAULT_GHM_ALPHA = 0.75
DEFAULT_GHM_MOMENTUM = 0.75
