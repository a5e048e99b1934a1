"""The harmonic-profile picture of the review page, as inline SVG text (no file, no library).

One small panel per angle, in rows of at most `PANELS_PER_ROW`. In each panel, x is the
harmonic number (1 = the fundamental) and y its level in dB relative to the fundamental, on
one scale for every panel; the shaded band is that angle's spread (10th to 90th percentile
of its reference takes), the dashed line its median, and the dark line with dots the listed
take, the same in every panel. A dot inside the band is dark, one outside it red. Each
panel says how far the take lies from that angle's median (mean absolute difference over the
harmonics above the fundamental), the closest angle is marked so, and the panel of the
stored angle has a dark frame, that of the suggested angle an orange one.
"""
from __future__ import annotations

from html import escape
from typing import Sequence

import numpy as np

from exclusion.review_page import AngleSpread, HarmonicProfile

PANELS_PER_ROW = 6
PLOT_W, PLOT_H = 130, 118
LEFT, RIGHT, TOP, BOTTOM = 34, 8, 34, 22
PANEL_W, PANEL_H = LEFT + PLOT_W + RIGHT, TOP + PLOT_H + BOTTOM
BAND, MEDIAN, TAKE, OUTSIDE, STORED, SUGGESTED = "#c6dbef", "#3182bd", "#222222", "#d62728", "#222222", "#e6850e"


def _level_range(profile: HarmonicProfile) -> tuple[float, float]:
    """The dB range every panel shows: all finite levels, rounded out to 10 dB, 0 dB included."""
    values = [profile.levels] + [s.low for s in profile.spreads] + [s.high for s in profile.spreads]
    flat = np.asarray([v for seq in values for v in seq], dtype=float)
    flat = flat[np.isfinite(flat)]
    lo = min(0.0, float(flat.min())) if flat.size else -60.0
    hi = max(0.0, float(flat.max())) if flat.size else 0.0
    return 10.0 * np.floor(lo / 10.0), max(10.0 * np.ceil(hi / 10.0), 10.0 * np.floor(lo / 10.0) + 10.0)


def _grid_step(lo: float, hi: float) -> float:
    """A step of 10, 20, 40, ... dB giving at most 6 grid lines."""
    step = 10.0
    while (hi - lo) / step > 6:
        step *= 2
    return step


def _points(xs: Sequence[float], ys: Sequence[float]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))


def _panel(spread: AngleSpread, levels: np.ndarray, role: str, y_of, x_of) -> list[str]:
    """The SVG elements of one angle's panel, in panel coordinates (0, 0 = its top left)."""
    h = len(levels)
    frame = STORED if "stored" in role else SUGGESTED if "suggested" in role else None
    out = [f'<rect x="{LEFT}" y="{TOP}" width="{PLOT_W}" height="{PLOT_H}" fill="#ffffff" '
           f'stroke="{frame or "#bbbbbb"}" stroke-width="{3 if frame else 1}"/>']
    title = f"{spread.angle}°" + (f" ({role})" if role else "")
    off = "no level to compare" if spread.distance_db != spread.distance_db else f"off by {spread.distance_db:.1f} dB"
    out.append(f'<text x="{LEFT}" y="13" class="pt">{escape(title)}</text>')
    out.append(f'<text x="{LEFT}" y="27" class="ps">{off}; {spread.takes} takes</text>')
    low, mid, high = (np.asarray(v, dtype=float) for v in (spread.low, spread.mid, spread.high))
    band = [k for k in range(h) if np.isfinite(low[k]) and np.isfinite(high[k])]
    if band:
        xs = [x_of(k) for k in band]
        ys = [y_of(high[k]) for k in band] + [y_of(low[k]) for k in band[::-1]]
        out.append(f'<polygon class="band" fill="{BAND}" points="{_points(xs + xs[::-1], ys)}"/>')
        out.append(f'<polyline fill="none" stroke="{MEDIAN}" stroke-width="1.2" stroke-dasharray="4 3" '
                   f'points="{_points(xs, [y_of(mid[k]) for k in band])}"/>')
    shown = [k for k in range(h) if np.isfinite(levels[k])]
    if shown:
        out.append(f'<polyline class="take" fill="none" stroke="{TAKE}" stroke-width="1.6" '
                   f'points="{_points([x_of(k) for k in shown], [y_of(levels[k]) for k in shown])}"/>')
    for k in shown:
        inside = k == 0 or (np.isfinite(low[k]) and low[k] <= levels[k] <= high[k])
        out.append(f'<circle cx="{x_of(k):.1f}" cy="{y_of(levels[k]):.1f}" r="2.6" fill="{TAKE if inside else OUTSIDE}"/>')
    return out


def _axes(lo: float, hi: float, h: int, y_of, x_of) -> list[str]:
    """Grid lines with their dB labels and the harmonic numbers, in panel coordinates."""
    out = []
    step = _grid_step(lo, hi)
    for value in np.arange(lo, hi + step / 2, step):
        y = y_of(value)
        out.append(f'<line x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{LEFT - 3}" y="{y + 3:.1f}" class="tk" text-anchor="end">{value:.0f}</text>')
    for k in range(h):
        out.append(f'<text x="{x_of(k):.1f}" y="{TOP + PLOT_H + 13}" class="tk" text-anchor="middle">{k + 1}</text>')
    return out


def harmonic_profile_svg(profile: HarmonicProfile, stored: int | None, suggested: int | None, label: str = "") -> str:
    """The picture of `profile` (module docstring) as an `<svg>` element; `label`: its accessible name."""
    levels = np.asarray(profile.levels, dtype=float)
    lo, hi = _level_range(profile)
    h = len(levels)

    def y_of(value: float) -> float:
        return TOP + (hi - float(value)) / (hi - lo) * PLOT_H

    def x_of(k: int) -> float:
        return LEFT + 8 + k * (PLOT_W - 16) / max(h - 1, 1)

    n = len(profile.spreads)
    columns = max(1, min(PANELS_PER_ROW, n))
    rows = -(-n // columns) if n else 1
    width, height = columns * PANEL_W, rows * PANEL_H + 14
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="profile" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>',
             '<style>.pt{font:bold 12px sans-serif}.ps{font:10px sans-serif;fill:#555}.tk{font:9px sans-serif;fill:#555}'
             '.ax{font:10px sans-serif;fill:#333}</style>']
    distances = [s.distance_db for s in profile.spreads if s.distance_db == s.distance_db]
    closest = min(distances) if distances else None
    for i, spread in enumerate(profile.spreads):
        roles = [r for r, yes in (("stored", spread.angle == stored), ("suggested", spread.angle == suggested),
                                  ("closest", spread.distance_db == closest)) if yes]
        role = ", ".join(roles)
        x0, y0 = (i % columns) * PANEL_W, (i // columns) * PANEL_H
        parts.append(f'<g transform="translate({x0},{y0})" data-angle="{spread.angle}">')
        parts += _axes(lo, hi, h, y_of, x_of) + _panel(spread, levels, role, y_of, x_of)
        parts.append("</g>")
    parts.append(f'<text x="{width / 2:.0f}" y="{height - 3}" class="ax" text-anchor="middle">harmonic number; '
                 "level in dB relative to the fundamental</text>")
    parts.append("</svg>")
    return "".join(parts)
