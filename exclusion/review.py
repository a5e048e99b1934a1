"""The review sheet of an exclusion list: what was listed and why, in one place, with spectrograms.

Written beside the list `<stem>.txt` by generate_tracin_exclusions.py:

- `<stem>_review.md`: one row per listed recording, most harmful first: id, stored angle,
  split, the rule that listed it, every available criterion's score and rank among the
  training recordings, the suggested angle (empty unless one is given), the WAV file;
  then the picture;
- `<stem>_review.csv`: the same rows for a spreadsheet (UTF-8, one header line);
- `<stem>_review.png`: each listed recording's spectrogram beside a typical recording of
  its stored angle (and of its suggested angle, when there is one). Typical: of the
  training recordings of that angle that are not listed, the one with the median score
  under the list's criterion; else the first recording of that angle (by id) that is
  neither listed nor excluded.

Scores per training recording (rank 1 = the most suspicious under that criterion) are each
criterion's evidence on a robust z scale, higher = more suspicious (`exclusion.rules.
evidence_by_criterion`): `pairs` how unusually many harmful training pairs the recording is
in, `recordings` how unusually many validation pairs its own influence is harmful on,
`self-influence` its self-influence, `misfit` how far its score sits from its angle's.

`review_outputs` takes plain inputs (ids, score arrays, metadata records, a data root) and
returns the files as `utils.backups.Output`s, written by nobody yet: generate_exclusions
writes them together with the list, the relabel file and the metadata, all or nothing
(any further review file joins by adding its Output to that list). `write_review` writes
them at once; `review_for_selection` is the glue generate_exclusions calls.
"""
from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from datasets.config import SpectrogramParams
from utils.backups import Output, write_together
from utils.constants import (
    CACHE_DIR,
    CRITERION_COMBINED,
    CRITERION_MISFIT,
    CRITERION_PAIRS,
    CRITERION_RECORDINGS,
    CRITERION_SELF_INFLUENCE,
    K_ANGLE,
    K_EXCLUDED,
    K_FILE_PATH,
    K_SPLIT,
    REVIEW_SUFFIX,
    SAMPLE_ID_RE,
    frequency_hz,
)
from utils.markdown import table

log = logging.getLogger(__name__)

SCORE_MEANING = {
    CRITERION_PAIRS: ("harmful pairs (z)", True),
    CRITERION_RECORDINGS: ("own harm (z)", True),
    CRITERION_SELF_INFLUENCE: ("self-influence (z)", True),
    CRITERION_MISFIT: ("misfit (z)", True),
}
"""criterion -> (what the score is, whether higher is more suspicious)."""

MAX_PICTURE_ROWS = 30


@dataclass
class ReviewFiles:
    markdown: Path
    csv: Path
    picture: Path | None


@dataclass
class _Row:
    sample_id: str
    angle: int | None
    split: str
    rule: str
    scores: dict[str, tuple[float, int]]  # criterion -> (score, rank)
    suggested: int | None
    wav: Path


def review_paths(list_file: Path) -> tuple[Path, Path, Path]:
    stem = Path(list_file).with_suffix("")
    return tuple(stem.with_name(stem.name + REVIEW_SUFFIX + ext) for ext in (".md", ".csv", ".png"))


def ranks(values: np.ndarray, higher_is_worse: bool) -> np.ndarray:
    """Rank 1 = most suspicious; NaN ranks last."""
    v = np.asarray(values, dtype=np.float64)
    key = np.where(np.isnan(v), np.inf, -v if higher_is_worse else v)
    out = np.empty(len(v), dtype=np.int64)
    out[np.argsort(key, kind="stable")] = np.arange(1, len(v) + 1)
    return out


def _angle(sample_id: str, record: Mapping[str, Any]) -> int | None:
    if isinstance(record.get(K_ANGLE), int):
        return record[K_ANGLE]
    m = SAMPLE_ID_RE.match(sample_id)
    return int(m["angle"]) if m else None


def wav_path(sample_id: str, record: Mapping[str, Any], data_root: Path) -> Path:
    """The recording's file: its metadata `file_path` (relative to the data root), else where train.py looks for it."""
    stored = record.get(K_FILE_PATH)
    if isinstance(stored, str) and stored:
        path = Path(stored)
        return path if path.is_absolute() else data_root / path
    m = SAMPLE_ID_RE.match(sample_id)
    if m is None:
        return data_root / f"{sample_id}.wav"
    return data_root / f"deg{int(m['angle']):03d}" / m["material"] / f"{sample_id}.wav"


def typical_recording(
    angle: int,
    avoid: set[str],
    recording_ids: Sequence[str],
    main_scores: np.ndarray | None,
    records: Mapping[str, Mapping[str, Any]],
) -> str | None:
    """The median-scoring unlisted training recording of `angle`, else the first clean one of any split."""
    pool = [(float(main_scores[r]) if main_scores is not None else np.nan, sid) for r, sid in enumerate(recording_ids)
            if sid not in avoid and _angle(sid, records.get(sid, {})) == angle]
    scored = sorted((s, sid) for s, sid in pool if not np.isnan(s))
    if scored:
        return scored[(len(scored) - 1) // 2][1]
    clean = sorted(sid for sid, rec in records.items()
                   if isinstance(rec, Mapping) and sid not in avoid and rec.get(K_EXCLUDED) is not True
                   and _angle(sid, rec) == angle)
    return clean[0] if clean else (sorted(sid for _, sid in pool)[:1] or [None])[0]


def _fmt(x: float) -> str:
    return "" if x is None or np.isnan(x) else f"{x:.4g}"


def review_outputs(
    list_file: Path,
    listed: Sequence[tuple[str, str]],
    recording_ids: Sequence[str],
    scores: Mapping[str, np.ndarray],
    records: Mapping[str, Mapping[str, Any]],
    data_root: Path,
    main_criterion: str | None = None,
    suggested: Mapping[str, int] | None = None,
    spectrogram: SpectrogramParams | None = None,
    picture: bool = True,
) -> tuple[ReviewFiles, list[Output]]:
    """The review sheet of `list_file` (module docstring), as outputs to write. `listed`: (sample id, the rule
    that listed it), in list order; `scores`: criterion -> (R,) over `recording_ids`; `records`: sample metadata by id."""
    md_path, csv_path, png_path = review_paths(list_file)
    data_root = Path(data_root)
    suggested = dict(suggested or {})
    index = {sid: r for r, sid in enumerate(recording_ids)}
    rank_of = {c: ranks(v, SCORE_MEANING[c][1]) for c, v in scores.items()}
    rows = []
    for sid, rule in listed:
        record = records.get(sid, {}) if isinstance(records.get(sid, {}), Mapping) else {}
        r = index.get(sid)
        row_scores = {c: (float(v[r]), int(rank_of[c][r])) for c, v in scores.items() if r is not None}
        split = record.get(K_SPLIT) or ("train" if r is not None else "")
        rows.append(_Row(sid, _angle(sid, record), str(split), rule, row_scores, suggested.get(sid),
                         wav_path(sid, record, data_root)))

    criteria = list(scores)
    outputs = [Output.of_text(csv_path, _csv(rows, criteria))]
    png = None
    if picture and rows:
        png = _draw(rows, recording_ids, scores.get(main_criterion) if main_criterion else None, records,
                    data_root, spectrogram or SpectrogramParams())
        if png is not None:
            outputs.append(Output.of_bytes(png_path, png))
    made = png_path if png is not None else None
    outputs.append(Output.of_text(md_path, _markdown(list_file, rows, criteria, len(recording_ids), made)))
    return ReviewFiles(md_path, csv_path, made), outputs


def write_review(list_file: Path, *args: Any, **kwargs: Any) -> ReviewFiles:
    """`review_outputs`, written at once (all or nothing)."""
    files, outputs = review_outputs(list_file, *args, **kwargs)
    write_together(outputs)
    return files


def _csv(rows: list[_Row], criteria: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    score_columns = [f"{c.replace('-', '_')}_{k}" for c in criteria for k in ("score", "rank")]
    writer.writerow(["order", "id", "angle", "split", "rule", *score_columns, "suggested_angle", "wav_path"])
    for k, row in enumerate(rows, 1):
        cells = [x for c in criteria for x in ((repr(row.scores[c][0]), row.scores[c][1]) if c in row.scores else ("", ""))]
        writer.writerow([k, row.sample_id, "" if row.angle is None else row.angle, row.split, row.rule, *cells,
                         "" if row.suggested is None else row.suggested, row.wav])
    return buf.getvalue()


def _markdown(list_file: Path, rows: list[_Row], criteria: list[str], n_train: int, png: Path | None) -> str:
    heads = [f"{SCORE_MEANING[c][0]} (rank of {n_train})" for c in criteria]
    lines = [f"# Review of `{Path(list_file).name}`", ""]
    if not rows:
        return "\n".join(lines + ["The list is empty: nothing to review.", ""])
    lines += [
        f"{len(rows)} listed recording(s), most harmful first. Listen to each one and look at its spectrogram beside a "
        "typical recording of its angle. A recording that is fine: comment its id out in the list "
        "(`# <id> <your note>`), and it stays in training on every re-run.",
        "",
    ]
    cells = []
    for k, row in enumerate(rows, 1):
        scores = [f"{_fmt(row.scores[c][0])} ({row.scores[c][1]})" if c in row.scores else "" for c in criteria]
        cells.append([k, f"`{row.sample_id}`", "" if row.angle is None else row.angle, row.split, row.rule, *scores,
                      "" if row.suggested is None else row.suggested, f"`{row.wav}`"])
    lines += table(["#", "recording", "angle", "split", "listed because", *heads, "suggested angle", "WAV"], cells)
    lines += ["", "Each criterion's column: its evidence for the recording on a robust z scale (larger = more suspect:"
              " harmful-pair count, below-threshold count, self-influence, misfit) and, in brackets, the recording's"
              " rank among the training recordings (1 = the most suspect).", ""]
    if png is not None:
        lines += [f"![spectrograms]({png.name})", "",
                  "Left: the listed recording; right: a typical recording of its stored angle (and of its suggested "
                  "angle, when there is one).", ""]
    return "\n".join(lines)


def _pooled(spec: np.ndarray, width: int = 400) -> np.ndarray:
    """Time frames averaged in blocks down to at most `width` columns: a panel is about 400 pixels
    wide, and resampling thousands of frames per panel made the picture the slowest step."""
    step = -(-spec.shape[1] // width)
    if step <= 1:
        return spec
    frames = spec.shape[1] // step * step
    return spec[:, :frames].reshape(spec.shape[0], -1, step).mean(axis=2)


def png_bytes(fig: Any, plt: Any, dpi: int) -> bytes:
    """A figure as PNG bytes (closed afterwards)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def _draw(rows: list[_Row], recording_ids: Sequence[str], main_scores: np.ndarray | None,
          records: Mapping[str, Mapping[str, Any]], data_root: Path, params: SpectrogramParams) -> bytes | None:
    """The spectrogram picture as PNG bytes; None (with a warning) when no listed recording could be read."""
    from datasets.audio import cached_spectrogram
    from utils.figures import plt

    avoid = {row.sample_id for row in rows}
    shown = rows[:MAX_PICTURE_ROWS]
    if len(rows) > len(shown):
        log.warning("review picture: showing the first %d of %d listed recordings", len(shown), len(rows))
    columns = 3 if any(row.suggested is not None for row in shown) else 2

    def spectrogram(sid: str | None):
        if sid is None:
            return None, "no such recording"
        wav = wav_path(sid, records.get(sid, {}), data_root)
        try:
            return cached_spectrogram(wav, params, data_root / CACHE_DIR).numpy(), sid
        except (FileNotFoundError, ValueError) as exc:
            unreadable.append(str(exc))
            return None, f"{sid}: not readable"

    # A fixed layout: matplotlib's constrained layout took 17 s of 47 for 30 rows.
    fig, axes = plt.subplots(len(shown), columns, figsize=(4.2 * columns, 2.3 * len(shown)), squeeze=False)
    fig.subplots_adjust(left=0.06, right=0.98, top=1 - 0.35 / (2.3 * len(shown)), bottom=0.45 / (2.3 * len(shown)),
                        hspace=0.55, wspace=0.18)
    read_any, unreadable = False, []
    for k, row in enumerate(shown):
        m = SAMPLE_ID_RE.match(row.sample_id)
        top_hz = min(params.sample_rate / 2, 10 * frequency_hz(m["frequency"])) if m else params.sample_rate / 2
        bins = int(np.ceil(top_hz * params.n_fft / params.sample_rate)) + 1
        panels = [(row.sample_id, f"listed, stored {row.angle}°"),
                  (typical_recording(row.angle, avoid, recording_ids, main_scores, records), f"typical of {row.angle}°")]
        if row.suggested is not None:
            panels.append((typical_recording(row.suggested, avoid, recording_ids, main_scores, records),
                           f"typical of the suggested {row.suggested}°"))
        for ax in axes[k]:
            ax.set_axis_off()
        specs = [(spectrogram(sid), sid, title) for sid, title in panels]
        shown_specs = [spec[:bins] for (spec, _), _, _ in specs if spec is not None]
        # One colour scale per row, so the listed recording and the typical ones compare at a glance.
        vmin, vmax = (np.percentile(np.concatenate([x.ravel() for x in shown_specs]), [1, 99.9]) if shown_specs
                      else (None, None))
        for ax, ((spec, label), sid, title) in zip(axes[k], specs):
            ax.set_title(f"{title}: {label}", fontsize=8)
            if spec is None:
                continue
            read_any = read_any or sid == row.sample_id
            seconds = spec.shape[1] * params.hop_length / params.sample_rate
            ax.set_axis_on()
            ax.imshow(_pooled(spec[:bins]), origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=vmax,
                      extent=(0, seconds, 0, bins * params.sample_rate / params.n_fft), interpolation="nearest")
            ax.set_ylabel("Hz", fontsize=7)
            ax.tick_params(labelsize=6)
            if k == len(shown) - 1:
                ax.set_xlabel("seconds", fontsize=7)
    if not read_any:
        plt.close(fig)
        log.warning("review picture: none of the listed recordings could be read under %s; no picture (%s)",
                    data_root, unreadable[0] if unreadable else "no recording")
        return None
    if unreadable:
        log.warning("review picture: %d recording(s) not readable, e.g. %s", len(unreadable), unreadable[0])
    return png_bytes(fig, plt, dpi=100)


def review_for_selection(list_file: Path, selection: Any, listed_ids: Sequence[str], data: Any,
                         records: Mapping[str, Mapping[str, Any]], data_root: Path,
                         min_occurrences: int) -> tuple[ReviewFiles, list[Output]]:
    """The review sheet of the list generate_exclusions is writing (`data`: its `influence.io.InfluenceData`),
    as outputs to write together with the list."""
    from exclusion.report import reason

    run_config = data.info.get("run_config") if isinstance(data.info.get("run_config"), Mapping) else {}
    params = SpectrogramParams(**{k: run_config[k] for k in ("n_fft", "hop_length") if isinstance(run_config.get(k), int)})
    why = {e.sample_id: reason(e, selection, min_occurrences, data.n_validation_pairs) for e in selection.exclusions}
    listed = [(sid, why.get(sid, "added by hand")) for sid in listed_ids]
    suggested = {}
    if selection.suggested_angles is not None:
        by_id = dict(zip(data.recording_ids, selection.suggested_angles.tolist()))
        suggested = {sid: int(round(by_id[sid])) for sid in listed_ids if sid in by_id}
    return review_outputs(list_file, listed, data.recording_ids, selection.evidence, records, data_root,
                          main_criterion=CRITERION_MISFIT if selection.criterion == CRITERION_COMBINED
                          else selection.criterion, suggested=suggested, spectrogram=params)
