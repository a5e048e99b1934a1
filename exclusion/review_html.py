"""The review page's HTML text from a `ReviewPage`: a pure function, no file written or read but its own assets.

The page is one self-contained file: its style, script (`review_page.css`, `review_page.js`
beside this module), spectrograms (PNG data: URIs) and harmonic profiles (inline SVG) are
inside it; only the audio players point outside, at the WAV files, by paths relative to
the page. It needs no server and no network. For each listed take it shows the players, the
facts (stored angle, split, suggested angle), the rule that listed it, each criterion's
number with the words that name it, the spectrograms, the harmonic profile, and a decision:
exclude (the default), keep (comment it out), or relabel to an angle. Its script turns the
decisions into the edited list and relabel file (`review_page.js` says how), offered as
downloads and as text to copy.
"""
from __future__ import annotations

import json
from html import escape
from pathlib import Path

from exclusion.profile_svg import harmonic_profile_svg
from exclusion.review_page import PagePlayer, PageTake, ReviewPage
from exclusion.review_rows import SCORE_MEANING, SCORE_WORDS

ASSETS = Path(__file__).resolve().parent
DECISIONS = (("exclude", "exclude: it stays on the list"), ("keep", "keep: comment it out of the list"),
             ("relabel", "relabel to"))

HOW_TO_READ = (
    "Harmonic profile: each harmonic's level relative to the fundamental (x: harmonic number, 1 = the fundamental; "
    "y: dB), one panel per angle. The dark line with dots is this take, the same in every panel; the shaded band is "
    "where the training takes of that angle that are not on the list lie (10th to 90th percentile), the dashed line "
    "their median. A take belongs to the angle whose band it follows: its dots are dark inside a band and red outside "
    "it; each panel says how far the take is from that angle's median (the mean difference over the harmonics, in "
    "dB), and the closest angle is marked. The stored angle's panel has a dark frame, the suggested angle's an orange "
    "one. A mislabeled take follows another angle's band; a clipped or wrong-frequency take fits none.")


def _fmt(x: float) -> str:
    return "" if x != x else f"{x:.4g}"  # NaN -> ""


def _picture_classes(page: ReviewPage) -> dict[str, str]:
    return {sid: f"pic-{k}" for k, sid in enumerate(page.pictures)}


def _head(page: ReviewPage, classes: dict[str, str]) -> str:
    css = (ASSETS / "review_page.css").read_text(encoding="utf-8")
    # Each spectrogram once, as a class: a typical take shown beside several listed takes is not repeated.
    pictures = "\n".join(f".{classes[sid]}{{background-image:url({pic.uri})}}" for sid, pic in page.pictures.items())
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>Review of {escape(page.list_name)}</title>\n<style>\n{css}\n{pictures}\n</style>\n</head>\n")


def _intro(page: ReviewPage) -> str:
    run = f"run fingerprint <code>{escape(page.run)}</code>; " if page.run else ""
    parts = [f"<header><h1>Review of <code>{escape(page.list_name)}</code></h1>",
             f'<p class="run">{run}{len(page.takes)} listed take(s); scores ranked among {page.n_train} training '
             "recordings</p>"]
    if page.takes:
        parts.append(
            "<p>Listen to each take beside a typical take of its stored angle (and of its suggested angle), look at its "
            "harmonic profile, and decide: <b>exclude</b> it (the default), <b>keep</b> it (its id is commented out "
            "and it stays in training on every re-run), or <b>relabel</b> it to another angle. Then press "
            '<a href="#give-back">Give back the edited list and relabel file</a> at the bottom and save the two '
            f"files beside this page as <code>{escape(page.list_name)}</code> and "
            f"<code>{escape(page.relabel_name)}</code>.</p>")
        parts.append(f'<p class="how">{escape(HOW_TO_READ)}</p>')
    parts.append("<details><summary>The list as this page has it (the edited list is made from it)</summary>"
                 f'<pre class="list-text">{escape(page.list_text)}</pre>'
                 "<p>If you edited the list by hand since, run generate_tracin_exclusions.py again: it keeps your "
                 "edits and writes this page anew.</p></details></header>")
    return "\n".join(parts)


def _scores(take: PageTake, page: ReviewPage) -> str:
    rows = []
    for criterion in page.criteria:
        if criterion not in take.row.scores:
            continue
        value, rank = take.row.scores[criterion]
        label = SCORE_MEANING.get(criterion, criterion)
        rows.append(f"<tr><th>{escape(label)}</th><td>{escape(SCORE_WORDS.get(criterion, ''))}</td>"
                    f'<td class="num">{_fmt(value)}</td><td class="num">{rank} of {page.n_train}</td></tr>')
    if not rows:
        return ""
    return ('<table class="scores"><thead><tr><th>criterion</th><th>what the number is</th><th>robust z</th>'
            "<th>rank (1 = most suspect)</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _player(player: PagePlayer, page: ReviewPage, classes: dict[str, str]) -> str:
    sid = escape(player.sample_id or "none")
    parts = [f'<figure class="player" data-id="{sid}"><figcaption><b>{escape(player.label)}</b><br><code>{sid}</code>'
             "</figcaption>"]
    if player.src is None:
        parts.append('<p class="missing">no WAV file found for it</p>')
    else:
        parts.append(f'<audio controls preload="metadata" src="{escape(player.src)}"></audio>')
        picture = page.pictures.get(player.sample_id or "")
        if picture is not None:
            parts.append(f'<div class="spectrogram {classes[player.sample_id]}" role="img" '
                         f'aria-label="spectrogram of {sid}"></div>'
                         f'<p class="axis">0 to {picture.top_hz:.0f} Hz (up), 0 to {picture.seconds:.2g} s (across)</p>')
    parts.append("</figure>")
    return "".join(parts)


def _decision(k: int, take: PageTake, page: ReviewPage) -> str:
    row = take.row
    default = row.suggested if row.suggested is not None and row.suggested != row.angle else None
    choices = [a for a in page.angles if a != row.angle]
    if default is None and choices:
        default = choices[0]
    options = "".join(f'<option value="{a}"{" selected" if a == default else ""}>{a}°</option>' for a in choices)
    radios = "".join(
        f'<label><input type="radio" name="decision-{k}" value="{value}"{" checked" if value == "exclude" else ""}> '
        f"{escape(text)}</label>" for value, text in DECISIONS if value != "relabel" or choices)
    menu = (f'<select name="angle-{k}" aria-label="angle to relabel {escape(row.sample_id)} to">{options}</select>'
            if choices else "")  # no other angle in the data set: nothing to relabel to
    return (f'<fieldset class="decision" data-id="{escape(row.sample_id)}"><legend>Your decision</legend>{radios}{menu}'
            f'<label class="note">note <input type="text" name="note-{k}" placeholder="listened: fine"></label>'
            "</fieldset>")


def _take(k: int, take: PageTake, page: ReviewPage, classes: dict[str, str]) -> str:
    row = take.row
    facts = [f"stored angle {row.angle}°" if row.angle is not None else "stored angle unknown",
             f"{row.split} split" if row.split else "split unknown"]
    if row.suggested is not None:
        facts.append(f"suggested angle {row.suggested}°")
    parts = [f'<section class="take" id="take-{k}" data-id="{escape(row.sample_id)}">',
             f"<h2>{k}. <code>{escape(row.sample_id)}</code></h2>",
             f'<p class="facts">{escape(", ".join(facts))}</p>',
             f'<p class="why"><b>Listed because:</b> {escape(row.rule)}</p>', _scores(take, page),
             '<div class="players">' + "".join(_player(p, page, classes) for p in take.players) + "</div>"]
    if take.profile is not None:
        label = f"harmonic profile of {row.sample_id}"
        parts.append(f'<figure class="harmonics">{harmonic_profile_svg(take.profile, row.angle, row.suggested, label)}'
                     "<figcaption>Harmonic profile: this take (dark line) over each angle's spread (band).</figcaption>"
                     "</figure>")
    else:
        parts.append('<p class="missing">No harmonic profile: the take or the reference takes could not be read.</p>')
    parts.append(_decision(k, take, page))
    parts.append("</section>")
    return "\n".join(parts)


def _give_back(page: ReviewPage) -> str:
    def output(key: str, name: str) -> str:
        return (f'<div class="output"><h3><code>{escape(name)}</code></h3>'
                f'<a id="download-{key}" class="button" download="{escape(name)}" href="#">download</a> '
                f'<button type="button" id="copy-{key}">copy as text</button> <span id="status-{key}" class="status">'
                f'</span><textarea id="{key}-out" readonly rows="14" spellcheck="false"></textarea></div>')

    return ('<section id="give-back"><h2>Give back the edited list and relabel file</h2>'
            '<p id="summary"></p><button type="button" id="make-files">Give back the edited list and relabel file'
            '</button><div id="outputs" hidden><p>Save each file beside this page under the name shown (replacing the '
            "old one), or copy its text into it. The list keeps its header and every line but the ones you decided on; "
            "the relabel file holds exactly the takes you relabelled (other suggestions commented out). Then: "
            f"<code>python train.py ... --exclusions-file {escape(page.list_name)}</code>, with "
            f"<code>--relabel-file {escape(page.relabel_name)}</code> for the relabelled takes.</p>"
            + output("list", page.list_name) + output("relabel", page.relabel_name) + "</div></section>")


def _data(page: ReviewPage) -> str:
    data = {"listName": page.list_name, "relabelName": page.relabel_name, "listText": page.list_text,
            "relabelText": page.relabel_text,
            "takes": [{"id": t.row.sample_id, "stored": t.row.angle, "suggested": t.row.suggested} for t in page.takes]}
    # "<" escaped, so that no text in the data can close the script element.
    text = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")
    return f'<script type="application/json" id="review-data">{text}</script>'


def review_page_html(page: ReviewPage) -> str:
    """The whole page (module docstring) as text, ready to be written to `<list stem>_review.html`."""
    classes = _picture_classes(page)
    body = [_intro(page)]
    if page.takes:
        body += [_take(k, take, page, classes) for k, take in enumerate(page.takes, 1)]
        body += [_give_back(page), _data(page),
                 f"<script>\n{(ASSETS / 'review_page.js').read_text(encoding='utf-8')}\n</script>"]
    else:
        body.append("<p>The list is empty: nothing to review.</p>")
    return _head(page, classes) + "<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
