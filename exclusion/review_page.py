"""What the review page of an exclusion list shows, computed: players, spectrograms, harmonic profiles.

`build_review_page(rows, sources)` reads the recordings' cached spectrograms and returns a
`ReviewPage`: plain values only, which `exclusion.review_html.review_page_html` turns into
the page's HTML text without touching a file (so the page is staged like any other output).

For each listed take:

- players: the take, a typical take of its stored angle and one of its suggested angle
  (`exclusion.review_rows.typical_recording`), each a path relative to the page, or None
  when the file is not there;
- a spectrogram picture of each of them (PNG, 64 colour levels, up to 10 times the
  tone's frequency), embedded as a data: URI, one per recording however often it is shown;
- its harmonic profile (`datasets.harmonics`): each harmonic's level relative to the
  fundamental, beside the spread of those levels (10th, 50th, 90th percentile) at each
  angle among the training takes of the same frequency that are not listed (at most
  `MAX_REFERENCE_TAKES` per angle, spread evenly over the ids), and, per angle, how many of
  the take's harmonics lie inside that angle's spread.
"""
from __future__ import annotations

import base64
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from datasets.config import SpectrogramParams
from datasets.harmonics import DEFAULT_HARMONICS, angle_spread, harmonic_levels_db
from exclusion.review_rows import ReviewRow, record_angle, relative_link, typical_recording, wav_path
from datasets.sample_id import SampleId
from utils.constants import CACHE_DIR

log = logging.getLogger(__name__)

MAX_REFERENCE_TAKES = 100
"""Training takes per angle (and frequency) the harmonic spread is taken from; more change percentiles little."""
PICTURE_COLUMNS = 96
PICTURE_LEVELS = 64
PICTURE_TOP_HARMONIC = 10
"""Spectrogram pictures reach up to this multiple of the tone's frequency (the Nyquist frequency at most)."""


@dataclass(frozen=True)
class PagePicture:
    """A spectrogram as a PNG data: URI, and what its axes span."""

    uri: str
    top_hz: float
    seconds: float


@dataclass(frozen=True)
class PagePlayer:
    """One audio player: what it plays (`label`), the recording, and its file relative to the page (None: missing)."""

    label: str
    sample_id: str | None
    src: str | None


@dataclass(frozen=True)
class AngleSpread:
    """One angle's spread of harmonic levels (dB re the fundamental, (H,) each) and how the take sits in it:
    `distance_db` the mean absolute difference between the take's levels and the median (NaN when no
    harmonic above the fundamental is known in both), `inside` of `compared` harmonics within the band."""

    angle: int
    low: tuple[float, ...]
    mid: tuple[float, ...]
    high: tuple[float, ...]
    takes: int
    distance_db: float
    inside: int
    compared: int


@dataclass(frozen=True)
class HarmonicProfile:
    """A take's harmonic levels (H,) in dB re the fundamental (NaN: none), over each angle's spread."""

    levels: tuple[float, ...]
    spreads: tuple[AngleSpread, ...]


@dataclass(frozen=True)
class PageTake:
    row: ReviewRow
    players: tuple[PagePlayer, ...]
    profile: HarmonicProfile | None


@dataclass
class PageSources:
    """What the page is built from, besides the rows: the training recordings (`recording_ids`, with
    `main_scores` (R,) under the list's criterion for choosing typical takes), the sample metadata,
    where the recordings are, the list's and relabel file's current text, and the run."""

    page_folder: Path
    recording_ids: Sequence[str]
    records: Mapping[str, Mapping[str, Any]]
    data_root: Path
    list_name: str
    list_text: str
    relabel_name: str
    relabel_text: str = ""
    run: str = ""
    criteria: tuple[str, ...] = ()
    main_scores: np.ndarray | None = None
    params: SpectrogramParams = field(default_factory=SpectrogramParams)


@dataclass(frozen=True)
class ReviewPage:
    """Everything the review page shows; `pictures`: sample id -> its spectrogram."""

    list_name: str
    relabel_name: str
    list_text: str
    relabel_text: str
    run: str
    criteria: tuple[str, ...]
    n_train: int
    angles: tuple[int, ...]
    takes: tuple[PageTake, ...]
    pictures: dict[str, PagePicture]


class _Spectrograms:
    """Cached spectrograms of the data root, read on demand; unreadable files are counted, not fatal."""

    def __init__(self, sources: PageSources):
        self.sources = sources
        self.unreadable: list[str] = []

    def path(self, sid: str) -> Path:
        return wav_path(sid, self.sources.records.get(sid, {}), self.sources.data_root)

    def read(self, sid: str) -> np.ndarray | None:
        """(F, T) log-magnitude spectrogram of `sid`, or None when its file cannot be read."""
        from datasets.audio import cached_spectrogram

        src = self.sources
        try:
            return cached_spectrogram(self.path(sid), src.params, src.data_root / CACHE_DIR).numpy()
        except (FileNotFoundError, ValueError) as exc:
            self.unreadable.append(str(exc))
            return None


def tone_hz(sample_id: str) -> float | None:
    """The tone's frequency from the sample id (`..._500hz_04` -> 500.0), None for another kind of id."""
    sid = SampleId.match(sample_id)
    return sid.tone_hz if sid else None


def spectrogram_picture(spec: np.ndarray, f0_hz: float | None, params: SpectrogramParams) -> PagePicture:
    """`spec` (F, T) as a small palette PNG: bins up to `PICTURE_TOP_HARMONIC` f0, frames averaged down to
    `PICTURE_COLUMNS`, colours over the 1st to 99.9th percentile of the picture (magma, low = dark)."""
    from matplotlib import colormaps
    from PIL import Image

    top_hz = params.sample_rate / 2 if f0_hz is None else min(params.sample_rate / 2, PICTURE_TOP_HARMONIC * f0_hz)
    bins = min(spec.shape[0], int(np.ceil(top_hz * params.n_fft / params.sample_rate)) + 1)
    step = max(1, -(-spec.shape[1] // PICTURE_COLUMNS))
    frames = max(step, spec.shape[1] // step * step)
    shown = spec[:bins, :frames]
    if shown.shape[1] % step == 0:
        shown = shown.reshape(bins, -1, step).mean(axis=2)
    lo, hi = np.percentile(shown, [1, 99.9])
    scaled = (shown - lo) / (hi - lo) if hi > lo else np.zeros_like(shown)
    index = np.clip(scaled * (PICTURE_LEVELS - 1) + 0.5, 0, PICTURE_LEVELS - 1).astype(np.uint8)[::-1]  # low at the bottom
    palette = (colormaps["magma"](np.linspace(0.0, 1.0, PICTURE_LEVELS))[:, :3] * 255).round().astype(np.uint8)
    image = Image.fromarray(np.ascontiguousarray(index), mode="P")
    image.putpalette(palette.ravel().tolist())
    buf = io.BytesIO()
    image.save(buf, format="png", optimize=True)
    seconds = spec.shape[1] * params.hop_length / params.sample_rate
    return PagePicture("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"),
                       bins * params.sample_rate / params.n_fft, seconds)


def reference_levels(rows: Sequence[ReviewRow], sources: PageSources, specs: _Spectrograms,
                     ) -> dict[float, dict[float, tuple[np.ndarray, np.ndarray, np.ndarray, int]]]:
    """frequency -> angle -> (low, mid, high (H,), takes): the harmonic spread of the unlisted training
    takes, at most `MAX_REFERENCE_TAKES` per angle and frequency, chosen evenly over the sorted ids."""
    listed = {row.sample_id for row in rows}
    groups: dict[tuple[float, int], list[str]] = {}
    for sid in sorted(sources.recording_ids):
        f0, angle = tone_hz(sid), record_angle(sid, sources.records.get(sid, {}))
        if sid not in listed and f0 is not None and angle is not None:
            groups.setdefault((f0, angle), []).append(sid)
    levels: dict[float, tuple[list[np.ndarray], list[int]]] = {}
    for (f0, angle), members in groups.items():
        chosen = [members[i] for i in np.linspace(0, len(members) - 1, min(len(members), MAX_REFERENCE_TAKES)).round()
                  .astype(int)]
        for sid in dict.fromkeys(chosen):
            spec = specs.read(sid)
            if spec is not None:
                found = levels.setdefault(f0, ([], []))
                found[0].append(harmonic_levels_db(spec, f0, sources.params))
                found[1].append(angle)
    out = {}
    for f0, (profiles, angles) in levels.items():
        counts = dict(zip(*np.unique(np.asarray(angles, dtype=float), return_counts=True)))
        spread = angle_spread(np.stack(profiles), np.asarray(angles))
        out[f0] = {a: (low, mid, high, int(counts[a])) for a, (low, mid, high) in spread.items()}
    return out


def harmonic_profile(levels: np.ndarray, spreads: Mapping[float, tuple[np.ndarray, np.ndarray, np.ndarray, int]],
                     ) -> HarmonicProfile:
    """The take's levels (H,) and, per angle, its spread, the take's mean distance from its median and how
    many of the take's harmonics (above the fundamental, where both are known) lie inside it."""
    levels = np.asarray(levels, dtype=float)
    out = []
    for angle in sorted(spreads):
        low, mid, high, takes = spreads[angle]
        known = np.isfinite(levels) & np.isfinite(low) & np.isfinite(high) & np.isfinite(mid)
        known[0] = False  # the fundamental is 0 dB by definition
        inside = int(np.sum(known & (levels >= low) & (levels <= high)))
        distance = float(np.mean(np.abs(levels[known] - mid[known]))) if known.any() else float("nan")
        out.append(AngleSpread(int(angle), tuple(low.tolist()), tuple(mid.tolist()), tuple(high.tolist()), takes,
                               distance, inside, int(known.sum())))
    return HarmonicProfile(tuple(levels.tolist()), tuple(out))


def _players(row: ReviewRow, listed: set[str], sources: PageSources, specs: _Spectrograms) -> list[PagePlayer]:
    """The take, then a typical take of its stored angle and (when it has one) of its suggested angle."""
    wanted = [("this take", row.sample_id)]
    if row.angle is not None:
        wanted.append((f"typical of its stored {row.angle}°", typical_recording(
            row.angle, listed, sources.recording_ids, sources.main_scores, sources.records)))
    if row.suggested is not None and row.suggested != row.angle:
        wanted.append((f"typical of the suggested {row.suggested}°", typical_recording(
            row.suggested, listed, sources.recording_ids, sources.main_scores, sources.records)))
    players = []
    for label, sid in wanted:
        path = specs.path(sid) if sid is not None else None
        found = path is not None and path.is_file()
        if path is not None and not found:
            specs.unreadable.append(f"no such file: {path}")
        players.append(PagePlayer(label, sid, relative_link(path, sources.page_folder) if found else None))
    return players


def _data_set_angles(sources: PageSources) -> tuple[int, ...]:
    """Every angle the data set's recordings have: the angles a take can be relabelled to."""
    records = sources.records
    found = {record_angle(sid, records[sid] if isinstance(records.get(sid), Mapping) else {})
             for sid in set(sources.recording_ids) | set(records)}
    return tuple(sorted(a for a in found if a is not None))


def _take(row: ReviewRow, listed: set[str], sources: PageSources, specs: _Spectrograms, spreads: Mapping,
          pictures: dict[str, PagePicture]) -> PageTake:
    """One listed take: its players, the spectrogram of each (added to `pictures`), its harmonic profile."""
    players = _players(row, listed, sources, specs)
    profile = None
    for player in players:
        sid = player.sample_id
        if player.src is None or (sid in pictures and sid != row.sample_id):
            continue
        spec = specs.read(sid)
        if spec is None:
            continue
        pictures[sid] = spectrogram_picture(spec, tone_hz(sid), sources.params)
        f0 = tone_hz(sid)
        if sid == row.sample_id and f0 in spreads:
            profile = harmonic_profile(harmonic_levels_db(spec, f0, sources.params, DEFAULT_HARMONICS), spreads[f0])
    return PageTake(row, tuple(players), profile)


def build_review_page(rows: Sequence[ReviewRow], sources: PageSources) -> ReviewPage:
    """The review page of the listed `rows` (module docstring); reads spectrograms, writes nothing."""
    specs = _Spectrograms(sources)
    listed = {row.sample_id for row in rows}
    spreads = reference_levels(rows, sources, specs) if rows else {}
    pictures: dict[str, PagePicture] = {}
    takes = tuple(_take(row, listed, sources, specs, spreads, pictures) for row in rows)
    if specs.unreadable:
        log.warning("review page: %d recording(s) missing or not readable, e.g. %s", len(specs.unreadable), specs.unreadable[0])
    return ReviewPage(sources.list_name, sources.relabel_name, sources.list_text, sources.relabel_text, sources.run,
                      tuple(sources.criteria), len(sources.recording_ids), _data_set_angles(sources), takes, pictures)
