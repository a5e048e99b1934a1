"""The review page without a browser: harmonic profiles by hand, the spectrogram PNG, the SVG, and the page's
HTML built from real recordings (self-contained, players relative to the page, the list's text kept exactly)."""
from __future__ import annotations

import base64
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote

import numpy as np
from PIL import Image

from datasets.config import SpectrogramParams
from exclusion.profile_svg import harmonic_profile_svg
from exclusion.review import review_page_path, write_review
from exclusion.review_html import review_page_html
from exclusion.review_page import PageSources, build_review_page, harmonic_profile, spectrogram_picture
from exclusion.review_rows import review_rows

NAN = float("nan")


def sid(angle: int, take: int) -> str:
    return f"plastic_deg{angle:03d}_500hz_{take:02d}"


def two_angles():
    """Angle 0 lies around -10, -21 dB at harmonics 2 and 3, angle 36 around -25, -35; harmonic 4 is unknown."""
    return {
        0.0: (np.array([0, -12, -22, NAN]), np.array([0, -10, -21, NAN]), np.array([0, -8, -19, NAN]), 5),
        36.0: (np.array([0, -30, -40, NAN]), np.array([0, -25, -35, NAN]), np.array([0, -20, -30, NAN]), 4),
    }


def test_harmonic_profile_by_hand():
    profile = harmonic_profile(np.array([0.0, -10.0, -20.0, NAN]), two_angles())
    zero, other = profile.spreads
    assert (zero.angle, zero.takes, zero.inside, zero.compared) == (0, 5, 2, 2)
    assert zero.distance_db == 0.5  # |-10 - -10|, |-20 - -21|
    assert (other.angle, other.inside, other.compared, other.distance_db) == (36, 0, 2, 15.0)
    assert np.isnan(profile.levels[3])


def test_profile_picture_has_a_panel_per_angle_and_marks_them():
    profile = harmonic_profile(np.array([0.0, -10.0, -20.0, NAN]), two_angles())
    svg = harmonic_profile_svg(profile, stored=36, suggested=0, label="harmonic profile of x")
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    panels = root.findall(f"{ns}g")
    assert [p.get("data-angle") for p in panels] == ["0", "36"]
    titles = [t.text for t in root.iter(f"{ns}text") if t.get("class") == "pt"]
    assert titles == ["0° (suggested, closest)", "36° (stored)"]
    dots = [c.get("fill") for c in panels[1].iter(f"{ns}circle")]
    assert dots == ["#222222", "#d62728", "#d62728"]  # the fundamental, then two harmonics outside 36°'s band
    assert [c.get("fill") for c in panels[0].iter(f"{ns}circle")] == ["#222222"] * 3
    assert root.find(f"{ns}title").text == "harmonic profile of x"


def test_spectrogram_picture_is_a_small_png():
    params = SpectrogramParams()
    spec = np.random.default_rng(0).normal(size=(1025, 188)).astype(np.float32)
    picture = spectrogram_picture(spec, 500.0, params)
    assert picture.uri.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(picture.uri.split(",", 1)[1])))
    bins = int(np.ceil(5000 * params.n_fft / params.sample_rate)) + 1  # up to 10 x 500 Hz
    assert image.size == (94, bins) and image.mode == "P"
    assert abs(picture.top_hz - bins * params.sample_rate / params.n_fft) < 1e-9
    assert abs(picture.seconds - 188 * params.hop_length / params.sample_rate) < 1e-9


def listed_review(data_root: Path, folder: Path, list_text: str | None = None):
    """write_review of two listed takes of the shared demo data (12 training recordings, 2 per angle)."""
    train = [sid(a, t) for a in (0, 36, 72, 108, 144, 180) for t in (1, 2)]
    records = {s: {"angle": int(s[11:14]), "split": "train"} for s in train}
    list_file = folder / "exclusions" / "plastic_500hz_tracin_exclusions.txt"
    list_file.parent.mkdir(parents=True, exist_ok=True)
    list_file.write_text(list_text or f"# run fingerprint: 0123456789abcdef\n{sid(0, 1)}\n{sid(72, 2)}\n", encoding="utf-8")
    listed = [(sid(0, 1), "misfit"), (sid(72, 2), "added by hand")]
    files = write_review(list_file, listed, train, {"misfit": np.arange(12.0)}, records, data_root,
                         main_criterion="misfit", suggested={sid(72, 2): 144}, run="0123456789abcdef")
    return files, list_file


def page_data(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="review-data">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))


def test_page_of_real_recordings(data_root, tmp_path):
    files, list_file = listed_review(data_root, tmp_path / "elsewhere")
    assert files.page == review_page_path(list_file) and files.page.is_file()
    html = files.page.read_text(encoding="utf-8")
    # Self-contained: nothing is fetched but the WAV files, each by a path relative to the page.
    assert not re.search(r'(href|src)="(https?:)?//', html) and "<link" not in html and "@import" not in html
    sources = re.findall(r'<audio controls preload="metadata" src="([^"]+)"', html)
    assert len(sources) == 5  # two takes; the first with a typical of its angle, the second also of 144
    for src in sources:
        assert not src.startswith(("/", "file:")) and (files.page.parent / unquote(src)).resolve().is_file()
    assert sources[0] == "../../../shared0/data/deg000/plastic/plastic_deg000_500hz_01.wav"
    sections = re.findall(r'<section class="take" id="take-(\d+)" data-id="([^"]+)">', html)
    assert sections == [("1", sid(0, 1)), ("2", sid(72, 2))]
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="profile"') == 2
    assert "0123456789abcdef" in html and "harmonic profile of plastic_deg072_500hz_02" in html
    # One picture per recording shown: 2 takes + the typicals of 0, 72 and 144 degrees.
    assert len(re.findall(r"^\.pic-\d+\{background-image:url\(data:image/png;base64,", html, re.M)) == 5
    data = page_data(html)
    assert data["listText"] == list_file.read_text(encoding="utf-8")
    assert data["relabelName"] == "plastic_500hz_tracin_exclusions_relabel.txt" and data["relabelText"] == ""
    assert data["takes"] == [{"id": sid(0, 1), "stored": 0, "suggested": None},
                             {"id": sid(72, 2), "stored": 72, "suggested": 144}]
    # Relabel choices: every angle of the data set but the stored one, the suggested one first chosen.
    options = re.search(r'<select name="angle-2"[^>]*>(.*?)</select>', html).group(1)
    assert re.findall(r'value="(\d+)"', options) == ["0", "36", "108", "144", "180"]
    assert '<option value="144" selected>' in options


def test_text_in_the_list_cannot_break_the_page(data_root, tmp_path):
    text = f"# a note </script><script>alert(1)</script> & more\n{sid(0, 1)}\n{sid(72, 2)}  # mine </b>\n"
    files, _ = listed_review(data_root, tmp_path, list_text=text)
    html = files.page.read_text(encoding="utf-8")
    assert html.count("<script") == 2 and html.count("</script>") == 2  # the data and the page's script, no more
    assert page_data(html)["listText"] == text
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in html  # the list as shown, escaped


def test_missing_recordings_get_no_player_and_no_profile(data_root, tmp_path, caplog):
    train = [sid(0, 1), sid(0, 2), sid(36, 1), sid(36, 2)]
    records = {s: {"angle": int(s[11:14]), "split": "train"} for s in train}
    records[sid(0, 1)]["file_path"] = "gone/plastic_deg000_500hz_01.wav"
    rows = review_rows([(sid(0, 1), "misfit")], train, {}, records, data_root, {})
    sources = PageSources(page_folder=tmp_path, recording_ids=train, records=records, data_root=data_root,
                          list_name="l.txt", list_text=f"{sid(0, 1)}\n", relabel_name="l_relabel.txt")
    page = build_review_page(rows, sources)
    (take,) = page.takes
    assert take.profile is None and take.players[0].src is None and take.players[1].src is not None
    assert "missing or not readable, e.g. no such file: " in caplog.text
    html = review_page_html(page)
    assert "no WAV file found for it" in html and "No harmonic profile" in html


def test_the_reference_spread_leaves_the_listed_takes_out(data_root, tmp_path):
    train = [sid(a, t) for a in (0, 36) for t in (1, 2, 3, 4)]
    records = {s: {"angle": int(s[11:14]), "split": "train"} for s in train}
    rows = review_rows([(sid(0, 1), "misfit")], train, {}, records, data_root, {})
    sources = PageSources(page_folder=tmp_path, recording_ids=train, records=records, data_root=data_root,
                          list_name="l.txt", list_text=f"{sid(0, 1)}\n", relabel_name="l_relabel.txt")
    (take,) = build_review_page(rows, sources).takes
    assert [(s.angle, s.takes) for s in take.profile.spreads] == [(0, 3), (36, 4)]
    assert take.profile.levels[0] == 0.0 and all(np.isfinite(take.profile.levels))


def test_the_page_edits_the_text_being_written_when_given(data_root, tmp_path):
    """generate may write the page together with the list: it then passes the texts it is writing."""
    train = [sid(0, 1), sid(0, 2), sid(36, 1), sid(36, 2)]
    records = {s: {"angle": int(s[11:14])} for s in train}
    list_file = tmp_path / "l.txt"
    list_file.write_text("old text on disk\n", encoding="utf-8")
    files = write_review(list_file, [(sid(0, 1), "misfit")], train, {}, records, data_root,
                         list_text=f"# new\n{sid(0, 1)}\n", relabel_text=f"{sid(0, 1)}  36\n", picture=False)
    data = page_data(files.page.read_text(encoding="utf-8"))
    assert (data["listText"], data["relabelText"], data["relabelName"]) == (f"# new\n{sid(0, 1)}\n", f"{sid(0, 1)}  36\n",
                                                                            "l_relabel.txt")
