"""The review sheet and the review page of an exclusion list: what was listed and why, in one place.

Written beside the list `<stem>.txt` by generate_tracin_exclusions.py:

- `<stem>_review.html`: the review page (`exclusion.review_page` computes it,
  `exclusion.review_html` writes its text): one self-contained file to open in a browser,
  with players, spectrograms, harmonic profiles and a decision per take, which gives back
  the edited list and relabel file;
- `<stem>_review.md`: one row per listed recording, most harmful first: id, stored angle,
  split, the rule that listed it, every available criterion's score and rank among the
  training recordings, the suggested angle (empty unless one is given), the WAV file linked
  relative to the sheet; then the picture;
- `<stem>_review.csv`: the same rows for a spreadsheet (UTF-8, one header line; `wav_path`
  relative to the sheet's folder);
- `<stem>_review.png`: each listed recording's spectrogram (left) beside a typical recording
  of its stored angle (middle) and of its suggested angle (right, when there is one).

Rows, scores, ranks and typical recordings: `exclusion.review_rows`. `review_outputs` takes
plain inputs (ids, score arrays, metadata records, a data root) and returns the files as
`utils.backups.Output`s, written by nobody yet: generate_exclusions writes them together
with the list, the relabel file and the metadata, all or nothing. `write_review` writes
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
from datasets.stamps import relabel_file_for
from exclusion.criteria import COMBINED, MISFIT
from exclusion.review_html import review_page_html
from exclusion.review_page import PageSources, build_review_page
from exclusion.review_rows import (
    SCORE_MEANING,
    ReviewRow,
    ranks,
    relative_link,
    relative_path,
    review_rows,
    typical_recording,
    wav_path,
)
from utils.backups import Output, write_together
from datasets.sample_id import SampleId
from utils.constants import CACHE_DIR, REVIEW_SUFFIX
from utils.markdown import table

__all__ = ["ReviewFiles", "ranks", "review_for_selection", "review_outputs", "review_page_path", "review_paths", "typical_recording",
           "wav_path", "write_review"]

log = logging.getLogger(__name__)

MAX_PICTURE_ROWS = 30


@dataclass
class ReviewFiles:
    markdown: Path
    csv: Path
    picture: Path | None
    page: Path | None = None

    def lines(self) -> list[str]:
        """What generate_tracin_exclusions.py prints about them."""
        out = [f"review page: {self.page} (open it in a browser: listen, decide, give back the edited list)"] if self.page else []
        return out + [f"review sheet: {self.markdown} (also {self.csv.name}" + (f", {self.picture.name})" if self.picture else ")")]


def review_paths(list_file: Path) -> tuple[Path, Path, Path]:
    """`<stem>_review.md`, `.csv` and `.png` beside the list `<stem>.txt`."""
    stem = Path(list_file).with_suffix("")
    return tuple(stem.with_name(stem.name + REVIEW_SUFFIX + ext) for ext in (".md", ".csv", ".png"))


def review_page_path(list_file: Path) -> Path:
    """`<stem>_review.html` beside the list `<stem>.txt`."""
    stem = Path(list_file).with_suffix("")
    return stem.with_name(stem.name + REVIEW_SUFFIX + ".html")


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
    run: str = "",
    list_text: str | None = None,
    relabel_text: str | None = None,
    cut: Sequence[str] = (),
) -> tuple[ReviewFiles, list[Output]]:
    """The review page and sheet of `list_file` (module docstring), as outputs to write. `listed`: (sample id, the rule that
    listed it), in list order; `scores`: criterion -> (R,) over `recording_ids`; `records`: sample metadata
    by id; `run`: the run fingerprint the page names. The page edits `list_text` and `relabel_text`, the
    list's and the relabel file's (`datasets.stamps.relabel_file_for`) text as they are being written;
    None: as the files hold them now; `cut`: what the list's cut gave (`exclusion.report.cut_lines`), stated on the
    sheet."""
    md_path, csv_path, png_path = review_paths(list_file)
    data_root, params = Path(data_root), spectrogram or SpectrogramParams()
    rows = review_rows(listed, recording_ids, scores, records, data_root, dict(suggested or {}))
    criteria = list(scores)
    main_scores = scores.get(main_criterion) if main_criterion else None
    outputs = [Output.of_text(csv_path, _csv(rows, criteria, csv_path.parent))]
    png = _draw(rows, recording_ids, main_scores, records, data_root, params) if picture and rows else None
    if png is not None:
        outputs.append(Output.of_bytes(png_path, png))
    made = png_path if png is not None else None
    page_path = review_page_path(list_file)
    outputs.append(Output.of_text(md_path, _markdown(list_file, rows, criteria, len(recording_ids), made, page_path, cut)))
    relabel_file = relabel_file_for(Path(list_file))
    sources = PageSources(
        page_folder=page_path.parent, recording_ids=recording_ids, records=records, data_root=data_root,
        list_name=Path(list_file).name,
        list_text=_text_of(list_file, "\n".join(sid for sid, _ in listed) + "\n") if list_text is None else list_text,
        relabel_name=relabel_file.name, relabel_text=_text_of(relabel_file, "") if relabel_text is None else relabel_text,
        run=run, criteria=tuple(criteria),
        main_scores=main_scores, params=params)
    outputs.append(Output.of_text(page_path, review_page_html(build_review_page(rows, sources))))
    return ReviewFiles(md_path, csv_path, made, page_path), outputs


def write_review(list_file: Path, *args: Any, **kwargs: Any) -> ReviewFiles:
    """`review_outputs`, written at once (all or nothing)."""
    files, outputs = review_outputs(list_file, *args, **kwargs)
    write_together(outputs)
    return files


def _text_of(path: Path, missing: str) -> str:
    """A text file's content (a UTF-8 byte-order mark dropped), or `missing` when there is no such file."""
    path = Path(path)
    return path.read_text(encoding="utf-8", errors="replace").lstrip("\ufeff") if path.is_file() else missing


def _csv(rows: list[ReviewRow], criteria: list[str], folder: Path) -> str:
    """The sheet's CSV text: one row per listed recording, its WAV path relative to `folder`."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    score_columns = [f"{c.replace('-', '_')}_{k}" for c in criteria for k in ("score", "rank")]
    writer.writerow(["order", "id", "angle", "split", "rule", *score_columns, "suggested_angle", "wav_path"])
    for k, row in enumerate(rows, 1):
        cells = [x for c in criteria for x in ((repr(row.scores[c][0]), row.scores[c][1]) if c in row.scores else ("", ""))]
        writer.writerow([k, row.sample_id, "" if row.angle is None else row.angle, row.split, row.rule, *cells,
                         "" if row.suggested is None else row.suggested, relative_path(row.wav, folder)])
    return buf.getvalue()


def _markdown(list_file: Path, rows: list[ReviewRow], criteria: list[str], n_train: int, png: Path | None,
              page: Path, cut: Sequence[str] = ()) -> str:
    heads = [f"{SCORE_MEANING[c]} (rank of {n_train})" for c in criteria]
    lines = [f"# Review of `{Path(list_file).name}`", ""]
    if not rows:
        return "\n".join(lines + ["The list is empty: nothing to review.", ""])
    folder = Path(page).parent
    lines += [
        f"{len(rows)} listed recording(s), most harmful first. Listen to each one and look at its spectrogram beside a "
        "typical recording of its angle. A recording that is fine: comment its id out in the list "
        "(`# <id> <your note>`), and it stays in training on every re-run.",
        "",
        f"The review page [{page.name}]({relative_link(page, folder)}) plays each take beside typical ones, shows its "
        "harmonic profile, and gives back the list and the relabel file edited as you decide.",
        "",
        *(f"- {line[0].upper()}{line[1:]}" for line in cut),
        *([""] if cut else []),
    ]
    cells = []
    for k, row in enumerate(rows, 1):
        scores = [f"{_fmt(row.scores[c][0])} ({row.scores[c][1]})" if c in row.scores else "" for c in criteria]
        cells.append([k, f"`{row.sample_id}`", "" if row.angle is None else row.angle, row.split, row.rule, *scores,
                      "" if row.suggested is None else row.suggested,
                      f"[{relative_path(row.wav, folder)}]({relative_link(row.wav, folder)})"])
    lines += table(["#", "recording", "angle", "split", "listed because", *heads, "suggested angle", "WAV"], cells)
    lines += ["", "Each criterion's column: its evidence for the recording on a robust z scale (larger = more suspect:"
              " harmful-pair count, below-threshold count, self-influence, misfit) and, in brackets, the recording's"
              " rank among the training recordings (1 = the most suspect).", ""]
    if png is not None:
        lines += [f"![spectrograms]({png.name})", "",
                  "Left: the listed recording; middle: a typical recording of its stored angle; right (when it has "
                  "one): a typical recording of its suggested angle.", ""]
    return "\n".join(lines)


def _pooled(spec: np.ndarray, width: int = 400) -> np.ndarray:
    """Time frames averaged in blocks down to at most `width` columns: a panel is about 400 pixels
    wide, and resampling thousands of frames per panel made the picture the slowest step."""
    step = -(-spec.shape[1] // width)
    if step <= 1:
        return spec
    frames = spec.shape[1] // step * step
    return spec[:, :frames].reshape(spec.shape[0], -1, step).mean(axis=2)


class _Spectrograms:
    """Reads the spectrograms the picture shows: (F, T) and the panel's label, or None and why not;
    `unreadable` keeps the errors of the files that could not be read."""

    def __init__(self, records: Mapping[str, Mapping[str, Any]], data_root: Path, params: SpectrogramParams):
        self.records, self.data_root, self.params = records, data_root, params
        self.unreadable: list[str] = []

    def __call__(self, sid: str | None) -> tuple[np.ndarray | None, str]:
        from datasets.audio import cached_spectrogram

        if sid is None:
            return None, "no such recording"
        wav = wav_path(sid, self.records.get(sid, {}), self.data_root)
        try:
            return cached_spectrogram(wav, self.params, self.data_root / CACHE_DIR).numpy(), sid
        except (FileNotFoundError, ValueError) as exc:
            self.unreadable.append(str(exc))
            return None, f"{sid}: not readable"


def _draw_row(axes: Sequence[Any], row: ReviewRow, panels: list[tuple[str | None, str]], read: _Spectrograms,
              last: bool) -> bool:
    """One row of the picture: the listed take and the typical takes of `panels` ((sample id, title) each), on one
    colour scale. Returns whether the listed take's own spectrogram was read."""
    params = read.params
    sid = SampleId.match(row.sample_id)
    top_hz = min(params.sample_rate / 2, 10 * sid.tone_hz) if sid else params.sample_rate / 2
    bins = int(np.ceil(top_hz * params.n_fft / params.sample_rate)) + 1
    for ax in axes:
        ax.set_axis_off()
    specs = [(read(sid), sid, title) for sid, title in panels]
    shown_specs = [spec[:bins] for (spec, _), _, _ in specs if spec is not None]
    # One colour scale per row, so the listed recording and the typical ones compare at a glance.
    vmin, vmax = (np.percentile(np.concatenate([x.ravel() for x in shown_specs]), [1, 99.9]) if shown_specs
                  else (None, None))
    read_listed = False
    for ax, ((spec, label), sid, title) in zip(axes, specs):
        ax.set_title(f"{title}: {label}", fontsize=8)
        if spec is None:
            continue
        read_listed = read_listed or sid == row.sample_id
        seconds = spec.shape[1] * params.hop_length / params.sample_rate
        ax.set_axis_on()
        ax.imshow(_pooled(spec[:bins]), origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=vmax,
                  extent=(0, seconds, 0, bins * params.sample_rate / params.n_fft), interpolation="nearest")
        ax.set_ylabel("Hz", fontsize=7)
        ax.tick_params(labelsize=6)
        if last:
            ax.set_xlabel("seconds", fontsize=7)
    return read_listed


def _draw(rows: list[ReviewRow], recording_ids: Sequence[str], main_scores: np.ndarray | None,
          records: Mapping[str, Mapping[str, Any]], data_root: Path, params: SpectrogramParams) -> bytes | None:
    """The spectrogram picture as PNG bytes; None (with a warning) when no listed recording could be read."""
    from utils.figures import plt

    avoid = {row.sample_id for row in rows}
    shown = rows[:MAX_PICTURE_ROWS]
    if len(rows) > len(shown):
        log.warning("review picture: showing the first %d of %d listed recordings", len(shown), len(rows))
    columns = 3 if any(row.suggested is not None for row in shown) else 2
    # A fixed layout: matplotlib's constrained layout took 17 s of 47 for 30 rows.
    fig, axes = plt.subplots(len(shown), columns, figsize=(4.2 * columns, 2.3 * len(shown)), squeeze=False)
    fig.subplots_adjust(left=0.06, right=0.98, top=1 - 0.35 / (2.3 * len(shown)), bottom=0.45 / (2.3 * len(shown)),
                        hspace=0.55, wspace=0.18)
    read = _Spectrograms(records, data_root, params)
    read_any = False
    for k, row in enumerate(shown):
        panels = [(row.sample_id, f"listed, stored {row.angle}°"),
                  (typical_recording(row.angle, avoid, recording_ids, main_scores, records), f"typical of {row.angle}°")]
        if row.suggested is not None:
            panels.append((typical_recording(row.suggested, avoid, recording_ids, main_scores, records),
                           f"typical of the suggested {row.suggested}°"))
        read_any = _draw_row(axes[k], row, panels, read, last=k == len(shown) - 1) or read_any
    unreadable = read.unreadable
    if not read_any:
        plt.close(fig)
        log.warning("review picture: none of the listed recordings could be read under %s; no picture (%s)",
                    data_root, unreadable[0] if unreadable else "no recording")
        return None
    if unreadable:
        log.warning("review picture: %d recording(s) not readable, e.g. %s", len(unreadable), unreadable[0])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def review_for_selection(list_file: Path, selection: Any, listed_ids: Sequence[str], data: Any,
                         records: Mapping[str, Mapping[str, Any]], data_root: Path, list_text: str | None = None,
                         relabel_text: str | None = None) -> tuple[ReviewFiles, list[Output]]:
    """The review page and sheet of the list generate_exclusions is writing (`data`: its `influence.data.InfluenceData`;
    `list_text`, `relabel_text`: as `review_outputs`), as outputs to write together with the list."""
    from exclusion.report import cut_lines, reason

    run_config = data.info.run_config
    params = SpectrogramParams() if run_config is None else run_config.spectrogram_params
    why = {e.sample_id: reason(e, selection, data.n_validation_pairs) for e in selection.exclusions}
    listed = [(sid, why.get(sid, "added by hand")) for sid in listed_ids]
    suggested = {}
    if selection.suggested_angles is not None:
        by_id = dict(zip(data.recording_ids, selection.suggested_angles.tolist()))
        suggested = {sid: int(round(by_id[sid])) for sid in listed_ids if sid in by_id and by_id[sid] == by_id[sid]}
    return review_outputs(list_file, listed, data.recording_ids, selection.evidence, records, data_root,
                          main_criterion=MISFIT if selection.criterion == COMBINED
                          else selection.criterion, suggested=suggested, spectrogram=params,
                          run=data.info.fingerprint or "", list_text=list_text, relabel_text=relabel_text,
                          cut=cut_lines(selection))
