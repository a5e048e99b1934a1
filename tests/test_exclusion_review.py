"""The review sheet beside an exclusion list: rows, scores and ranks, WAV links relative to the sheet, and the
spectrogram picture."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from exclusion.review import ranks, review_page_path, review_paths, typical_recording, write_review


def sid(angle: int, take: int) -> str:
    return f"plastic_deg{angle:03d}_500hz_{take:02d}"


def test_ranks_by_hand():
    assert ranks(np.array([3.0, 9.0, 1.0])).tolist() == [2, 1, 3]
    assert ranks(np.array([np.nan, 1.0])).tolist() == [2, 1]


def test_typical_is_the_median_scoring_unlisted_recording_of_the_angle():
    ids = [sid(0, k) for k in range(1, 6)]
    scores = np.array([5.0, 1.0, 3.0, 2.0, 4.0])
    assert typical_recording(0, {sid(0, 1)}, ids, scores, {}) == sid(0, 4)  # 1, 2, 3, 4 -> the lower median, 2.0
    records = {sid(36, 2): {"angle": 36, "excluded": True}, sid(36, 3): {"angle": 36}}
    assert typical_recording(36, set(), ids, scores, records) == sid(36, 3)  # no scores: the first clean one


def test_review_sheet_of_real_recordings(data_root, tmp_path):
    train = [sid(a, t) for a in (0, 36, 72, 108, 144, 180) for t in (1, 2)]
    scores = {"self-influence": np.arange(len(train), dtype=float)}
    listed = [(sid(0, 1), "self-influence 0 above the outlier cut -1"), (sid(72, 2), "added by hand")]
    records = {s: {"angle": int(s[11:14]), "split": "train"} for s in train}
    files = write_review(tmp_path / "exclusions" / "plastic_500hz_tracin_exclusions.txt", listed, train, scores, records,
                         data_root, main_criterion="self-influence", suggested={sid(72, 2): 144})
    assert files.markdown == review_paths(tmp_path / "exclusions" / "plastic_500hz_tracin_exclusions.txt")[0]
    assert files.markdown.name == "plastic_500hz_tracin_exclusions_review.md"
    rows = list(csv.DictReader(files.csv.open(encoding="utf-8")))
    assert [r["id"] for r in rows] == [sid(0, 1), sid(72, 2)]
    first = rows[0]
    assert (first["angle"], first["split"], first["self_influence_rank"], first["suggested_angle"]) == ("0", "train", "12", "")
    assert rows[1]["suggested_angle"] == "144" and rows[1]["rule"] == "added by hand"
    # WAV paths relative to the sheet: they resolve from its folder, wherever the two folders sit.
    wav = data_root / "deg000" / "plastic" / f"{sid(0, 1)}.wav"
    assert not Path(first["wav_path"]).is_absolute()
    assert (files.csv.parent / first["wav_path"]).resolve() == wav.resolve()
    text = files.markdown.read_text(encoding="utf-8")
    link = first["wav_path"]
    assert f"| 1 | `{sid(0, 1)}` | 0 | train | self-influence 0 above the outlier cut -1 | 0 (12) |  | [{link}]({link}) |" in text
    assert f"![spectrograms]({files.picture.name})" in text
    assert "Left: the listed recording; middle: a typical recording of its stored angle; right (when it has one): " \
           "a typical recording of its suggested angle." in text
    assert files.picture.read_bytes()[:4] == b"\x89PNG"
    assert files.page == review_page_path(tmp_path / "exclusions" / "plastic_500hz_tracin_exclusions.txt")
    assert files.page.name == "plastic_500hz_tracin_exclusions_review.html"
    assert f"[{files.page.name}]({files.page.name})" in text


def test_no_picture_when_no_recording_can_be_read(tmp_path, caplog):
    files = write_review(tmp_path / "list.txt", [(sid(0, 1), "why")], [sid(0, 1)], {}, {}, tmp_path / "gone")
    assert files.picture is None and not review_paths(tmp_path / "list.txt")[2].exists()
    assert "no picture" in caplog.text and "![" not in files.markdown.read_text(encoding="utf-8")
    empty = write_review(tmp_path / "empty.txt", [], [], {}, {}, tmp_path)
    assert "The list is empty" in empty.markdown.read_text(encoding="utf-8")
