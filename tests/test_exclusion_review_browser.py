"""The review page in a real browser (headless Chromium, conftest's `browser`): a page written by a real
generate run on real WAVs opens without a console error, names every listed id and plays every player's
file; keep and relabel decisions come back as a list and a relabel file that the toolkit reads as intended,
that train.py trains with, and that a re-run of generate keeps."""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest

import generate_tracin_exclusions as gen
import train as train_script
from datasets.exclusions import load_exclusions
from datasets.relabels import load_relabels
from exclusion.config import TUTORIAL_FLAGS
from exclusion.review import write_review
from utils.constants import LIST_DATA_ROOT_LINE

pytestmark = pytest.mark.slow  # headless Chromium, real training
TUTORIAL = (*TUTORIAL_FLAGS, "--verbose", "--update-metadata")
ONE_EPOCH = ["--epochs", "1", "--checkpoint-interval", "1", "--device", "cpu", "--no-progress"]


@pytest.fixture
def generated(tmp_path, make_root, cli, scored):
    """A data root of real WAVs and `scored`'s influence files, after the tutorial's generate command: the list
    holds scored.misfit (suggested angle 108) and scored.hub."""
    root = make_root(tmp_path / "data", wavs=True)
    code, out, err = cli(gen, ["--metadata-file", str(root / "metadata" / "plastic_500hz_influence_metadata.json"),
                               *TUTORIAL])
    assert code == 0, err
    list_file = root / "exclusions" / "plastic_500hz_tracin_exclusions.txt"
    page = list_file.with_name("plastic_500hz_tracin_exclusions_review.html")
    assert f"review page: {page}" in out
    assert load_exclusions(list_file).ids == [scored.misfit, scored.hub]
    return list_file, page


def click(browser, selector: str) -> None:
    from selenium.webdriver.common.by import By

    browser.driver.find_element(By.CSS_SELECTOR, selector).click()


def given_back(browser) -> tuple[str, str]:
    """Press the button; the list's and relabel file's text, checked equal to what their download links hold."""
    click(browser, "#make-files")
    texts = []
    for key in ("list", "relabel"):
        shown = browser.run(f"return document.getElementById('{key}-out').value")
        downloaded = browser.driver.execute_async_script(
            f"const done = arguments[arguments.length - 1]; fetch(document.getElementById('download-{key}').href)"
            ".then(function (r) { return r.text(); }).then(done);")
        assert downloaded == shown
        texts.append(shown)
    return texts[0], texts[1]


def test_page_plays_every_take_and_names_every_listed_id(browser, generated, scored):
    list_file, page = generated
    browser.open(page)
    assert browser.console_errors() == []
    listed = load_exclusions(list_file).ids
    on_page = browser.run("return Array.from(document.querySelectorAll('section.take')).map(s => s.dataset.id)")
    assert on_page == listed
    sources = browser.run("return Array.from(document.querySelectorAll('audio')).map(a => a.getAttribute('src'))")
    # Each take and a typical take of its stored angle; the misfit's of its suggested angle too (the hub's
    # suggested angle is its stored one).
    assert len(sources) == 5
    for src in sources:
        assert (page.parent / unquote(src)).is_file()
    played = browser.play_all()
    assert [p["src"] for p in played] == sources
    for p in played:
        assert p["played"] and p["error"] is None and p["duration"] > 0.9, p
    assert browser.run("return document.querySelectorAll('figure.harmonics svg').length") == 2
    assert browser.console_errors() == []


def test_the_defaults_give_back_the_list_unchanged(browser, generated):
    list_file, page = generated
    browser.open(page)
    listed, relabels = given_back(browser)
    assert listed == list_file.read_text(encoding="utf-8")
    assert load_relabels_text(relabels, list_file.parent) == {}  # the suggestion is commented out, not applied
    assert browser.console_errors() == []


def load_relabels_text(text: str, folder: Path) -> dict[str, int]:
    path = folder / "check_relabel.txt"
    path.write_text(text, encoding="utf-8")
    return load_relabels(path)


def test_keep_and_relabel_round_trip_into_train_and_generate(browser, generated, scored, cli):
    list_file, page = generated
    browser.open(page)
    position = {sid: k for k, sid in enumerate(load_exclusions(list_file).ids, 1)}
    keep, relabel = position[scored.hub], position[scored.misfit]
    click(browser, f'input[name="decision-{keep}"][value="keep"]')
    browser.driver.find_element("css selector", f'input[name="note-{keep}"]').send_keys("listened: fine")
    # Choosing an angle in the menu chooses "relabel"; 72 rather than the suggested 108.
    browser.run(f"const s = document.querySelector('select[name=\"angle-{relabel}\"]'); s.value = '72';"
                "s.dispatchEvent(new Event('change', {bubbles: true}));")
    listed, relabels = given_back(browser)
    assert browser.run("return document.getElementById('summary').textContent") == "0 to exclude, 1 to keep, 1 to relabel."
    assert browser.console_errors() == []

    # Saved over the files beside the page, as the page says.
    relabel_file = list_file.with_name("plastic_500hz_tracin_exclusions_relabel.txt")
    list_file.write_text(listed, encoding="utf-8")
    relabel_file.write_text(relabels, encoding="utf-8")
    edited = load_exclusions(list_file)
    assert edited.ids == [] and sorted(edited.commented_out) == sorted([scored.hub, scored.misfit])
    assert f"# {scored.hub}  listened: fine" in listed.splitlines()
    assert load_relabels(relabel_file) == {scored.misfit: 72}

    root = list_file.parent.parent
    assert train_script.main(["--frequency", "500hz", "--exclusions-file", str(list_file), "--relabel-file",
                              str(relabel_file), *ONE_EPOCH]) == 0
    runs = [p for p in (root / "checkpoints").iterdir() if "_excl_" in p.name]
    (run,) = runs
    info = json.loads((run / "run.json").read_text())
    assert info["complete"] and info["relabeled"] == {scored.misfit: 72} and info["excluded_ids"] == []

    # generate again: the two decisions stay; neither take is listed again.
    code, out, _ = cli(gen, ["--metadata-file", str(root / "metadata" / "plastic_500hz_influence_metadata.json"),
                             *TUTORIAL])
    assert code == 0
    again = load_exclusions(list_file)
    assert again.ids == [] and sorted(again.commented_out) == sorted([scored.hub, scored.misfit])
    assert "left out because they are commented out in the list" in out


def test_decisions_on_a_list_in_the_tutorials_format(browser, data_root, baseline, tmp_path):
    """One bare id per line with the tool's note above it: keep, relabel and exclude give back exactly the
    lines expected, which the toolkit reads as intended and train.py trains with."""
    train = sorted(json.loads((baseline / "run.json").read_text())["split"]["train"])  # 2 takes of each angle
    keep, relabel, exclude = (next(s for s in train if f"_deg{a:03d}_" in s) for a in (72, 0, 36))
    head = ["# TracIn exclusion list, written 2026-12-03", "# criterion: combined", "# run fingerprint: 0123456789abcdef",
            f"{LIST_DATA_ROOT_LINE}{json.dumps(str(data_root))}", "#"]
    body = ["# tracin: pairs+misfit; in 9 harmful training pairs; suggested angle 144", keep,
            "# tracin: misfit; misfit 5.1 robust SD; suggested angle 180", relabel, "# tracin: pairs", exclude]
    list_file = tmp_path / "exclusions" / "reviewed_by_ear.txt"
    list_file.parent.mkdir()
    list_file.write_text("\n".join(head + body) + "\n", encoding="utf-8")
    relabel_file = list_file.with_name("reviewed_by_ear_relabel.txt")
    relabel_file.write_text(f"# suggestions\n{keep}  144  # stored 72; pairs+misfit\n{relabel}  180  # stored 0; misfit\n"
                            f"{exclude}  72  # stored 36; pairs\n", encoding="utf-8")
    records = {s: {"angle": int(s[11:14]), "split": "train"} for s in train}
    files = write_review(list_file, [(keep, "pairs+misfit"), (relabel, "misfit"), (exclude, "pairs")], train,
                         {"misfit": np.arange(12.0)}, records, data_root, main_criterion="misfit",
                         suggested={keep: 144, relabel: 180, exclude: 72})
    browser.open(files.page)
    click(browser, 'input[name="decision-1"][value="keep"]')
    click(browser, 'input[name="decision-2"][value="relabel"]')  # to its suggested angle, chosen already
    listed, relabels = given_back(browser)
    assert browser.console_errors() == []
    assert listed.splitlines() == head + [body[0], f"# {keep}  kept: fine on listening (review page)", body[2],
                                          f"# {relabel}  relabelled to 180 in reviewed_by_ear_relabel.txt", *body[4:]]
    assert relabels.splitlines() == ["# suggestions", f"# {keep}  144  # stored 72; pairs+misfit",
                                     f"{relabel}  180  # stored 0; relabelled on the review page",
                                     f"# {exclude}  72  # stored 36; pairs"]
    list_file.write_text(listed, encoding="utf-8")
    relabel_file.write_text(relabels, encoding="utf-8")
    edited = load_exclusions(list_file)
    assert edited.ids == [exclude] and sorted(edited.commented_out) == sorted([keep, relabel])
    assert load_relabels(relabel_file) == {relabel: 180}
    assert train_script.main(["--frequency", "500hz", "--exclusions-file", str(list_file), "--relabel-file",
                              str(relabel_file), *ONE_EPOCH]) == 0
    run = data_root / "checkpoints" / "plastic_500hz_standard_excl_reviewed_by_ear_relabel_reviewed_by_ear_relabel"
    info = json.loads((run / "run.json").read_text())
    assert info["excluded_ids"] == [exclude] and info["relabeled"] == {relabel: 180}
