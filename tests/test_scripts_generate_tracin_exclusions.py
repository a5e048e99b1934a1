"""generate_tracin_exclusions.py end to end on real files in tmp_path, with answers known by construction.

The influence files are conftest's `scored`: the default rule (`combined`) lists the recording
whose score lands among another angle's (`scored.misfit`, suggested angle 108) and the one in
unusually many harmful pairs (`scored.hub`); `pairs` lists the hub alone.
"""
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import generate_tracin_exclusions as gen
from datasets.exclusions import load_exclusions
from datasets.relabels import load_relabels
from exclusion.config import TUTORIAL_FLAGS
from influence.io import save_influence
from utils.backups import list_backups
from datasets.sample_id import angle_of
from utils.constants import matrix_path_for

REPO = Path(__file__).resolve().parent.parent
TUTORIAL = (*TUTORIAL_FLAGS, "--verbose", "--update-metadata")


@pytest.fixture
def run(cli):
    """`run(root, *flags)`: the script on root's influence file, in-process -> (exit code, stdout, stderr)."""
    return lambda root, *flags: cli(gen, ["--metadata-file", str(influence_file(root)), *flags])


def influence_file(root: Path) -> Path:
    return root / "metadata" / "plastic_500hz_influence_metadata.json"


def metadata_file(root: Path) -> Path:
    return root / "metadata" / "plastic_500hz_metadata.json"


def list_file(root: Path) -> Path:
    return root / "exclusions" / "plastic_500hz_tracin_exclusions.txt"


def test_the_tutorials_command(tmp_path, make_root, run, scored):
    root = make_root(tmp_path)
    out_file = tmp_path / "lists" / "mine.txt"
    code, out, _ = run(root, "--output-file", str(out_file), *TUTORIAL)
    assert code == 0
    assert load_exclusions(out_file).ids == [scored.misfit, scored.hub]
    text = out_file.read_text()
    for expected in ("written 2", str(influence_file(root).resolve()), "criterion: combined", "threshold: -3 (robust z)",
                     "min-occurrences: 5", "max-exclusions: 30", "consider-both-samples: yes", "run seed: 3",
                     f"# tracin: misfit; suggested angle 108\n{scored.misfit}\n", f"# tracin: pairs\n{scored.hub}\n"):
        assert expected in text
    assert "its ranker score lands among the 108 degree recordings" in out  # --verbose says why
    relabel = out_file.with_name("mine_relabel.txt")
    assert f"{scored.misfit}  108  # tracin: suggested 108; stored 0; misfit" in relabel.read_text()

    meta = json.loads(metadata_file(root).read_text())
    hub = meta[scored.hub]
    assert hub["excluded"] is True and hub["listened"] == "yes" and hub["file_path"].endswith(f"{scored.hub}.wav")
    info = hub["tracin_info"]
    assert info["negative_occurrences"] == 6 and info["average_influence"] == -5.0
    assert len(info["affected_test_samples"]) == 6
    assert info["criterion"] == "combined" and info["rule"] == "pairs" and info["harmful_pairs"] == 12
    assert info["threshold"] == -3.0 and info["suggested_angle"] == 36
    assert meta[scored.misfit]["tracin_info"]["suggested_angle"] == 108
    assert info["exclusion_date"] in hub["notes"] and "criterion=combined, threshold=-3" in hub["notes"]
    assert sorted(sid for sid, r in meta.items() if r["excluded"]) == sorted([scored.misfit, scored.hub])
    assert len(list_backups(metadata_file(root))) == 1


@pytest.mark.parametrize("criterion, expected", [("pairs", "hub"), ("misfit", "misfit"), ("recordings", "own"),
                                                 ("self-influence", "loud")])
def test_each_criterion(tmp_path, make_root, run, scored, criterion, expected):
    root = make_root(tmp_path)
    code, _, _ = run(root, "--criterion", criterion, "--update-metadata")
    assert code == 0 and load_exclusions(list_file(root)).ids == [getattr(scored, expected)]
    info = json.loads(metadata_file(root).read_text())[getattr(scored, expected)]["tracin_info"]
    assert info["criterion"] == criterion and info["rule"] == criterion
    header = list_file(root).read_text()
    fixed_cut = criterion in ("misfit", "self-influence")  # their own robust-z cut: the flags do not act
    assert ("threshold: -3 (robust z) (not used)" in header) == fixed_cut
    assert ("min-occurrences: 5 (not used)" in header) == fixed_cut


def test_default_output_file_and_the_cap(tmp_path, make_root, run, scored):
    root = make_root(tmp_path)
    assert run(root)[0] == 0 and load_exclusions(list_file(root)).ids == [scored.misfit, scored.hub]
    run(root, "--max-exclusions", "1")
    assert load_exclusions(list_file(root)).ids == [scored.misfit]


def test_self_influence_missing_is_one_line_error(tmp_path, make_root, run, scored):
    root = make_root(tmp_path)
    data = scored.data()
    data.rec_self_influence = None
    save_influence(influence_file(root), data)
    code, _, err = run(root, "--criterion", "self-influence")
    assert code == 1
    assert err.startswith("generate_tracin_exclusions.py: error:") and "self-influence" in err
    assert len(err.strip().splitlines()) == 1


def test_self_influence_only_files_serve_the_rules_that_need_no_pair_scores(tmp_path, make_root, run, scored):
    # What compute writes with --compute-self-influence alone: no pair scores kept (k = 0).
    root = make_root(tmp_path)
    data = scored.data()
    data.pair_low_z, data.pair_low_idx = data.pair_low_z[:, :0], data.pair_low_idx[:, :0]
    save_influence(influence_file(root), data)
    assert run(root, "--criterion", "self-influence")[0] == 0
    assert load_exclusions(list_file(root)).ids == [scored.loud]
    assert run(root, "--criterion", "misfit")[0] == 0
    assert load_exclusions(list_file(root)).ids == [scored.misfit]
    for criterion in ("pairs", "combined"):
        code, _, err = run(root, "--criterion", criterion)
        assert code == 1 and "self-influence only" in err and "--compute-influence" in err
        assert len(err.strip().splitlines()) == 1


def test_a_relabel_line_commented_out_by_hand_stays_out(tmp_path, make_root, run, scored):
    root = make_root(tmp_path)
    assert run(root)[0] == 0
    relabel = list_file(root).with_name("plastic_500hz_tracin_exclusions_relabel.txt")
    line = f"{scored.misfit}  108  # tracin: suggested 108; stored 0; misfit"
    assert line in relabel.read_text().splitlines()
    relabel.write_text(relabel.read_text().replace(line, f"# {line}  listened: it is 0 degrees"))
    edited = relabel.read_text()
    assert run(root)[0] == 0  # the same suggestions: the person's file is not rewritten
    assert relabel.read_text() == edited and load_relabels(relabel) == {} and not list_backups(relabel)
    relabel.write_text(edited.replace("# Suggested", "# (header changed by hand) Suggested"))
    assert run(root)[0] == 0  # rewritten, the commented-out line kept as it was, the old file backed up
    assert f"# {line}  listened: it is 0 degrees" in relabel.read_text().splitlines()
    assert "changed by hand" in list_backups(relabel)[-1].read_text()


def test_rerun_with_same_inputs_changes_nothing(tmp_path, make_root, run):
    root = make_root(tmp_path)
    run(root, *TUTORIAL)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (list_file(root), metadata_file(root))}
    code, out, _ = run(root, *TUTORIAL)
    assert code == 0
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in before} == before
    assert "unchanged" in out and "not rewritten" in out
    assert list_backups(list_file(root)) == [] and len(list_backups(metadata_file(root))) == 1  # no new backup


def test_hand_edits_survive_a_rerun(tmp_path, make_root, run, scored):
    root = make_root(tmp_path)
    run(root, *TUTORIAL)
    path = list_file(root)
    text = path.read_text()
    edited = text.replace(f"# tracin: pairs\n{scored.hub}\n", f"# {scored.hub}\n")
    edited = edited.replace(f"{scored.misfit}\n", f"# clipped at 2 s\n{scored.misfit}\n")
    edited += "# checked by Hank\n"
    path.write_bytes(edited.replace("\n", "\r\n").encode())  # an editor with CRLF line ends
    meta = json.loads(metadata_file(root).read_text())
    meta[scored.misfit]["notes"] = "re-recorded? " + meta[scored.misfit]["notes"]
    meta[scored.misfit]["my_flag"] = 1
    metadata_file(root).write_text(json.dumps(meta, indent=2))

    code, out, _ = run(root, *TUTORIAL)
    assert code == 0
    new = load_exclusions(path)
    assert new.ids == [scored.misfit] and new.commented_out == [scored.hub]
    text = path.read_text()
    assert f"# tracin: misfit; suggested angle 108\n# clipped at 2 s\n{scored.misfit}\n" in text
    assert text.count("clipped at 2 s") == 1 and "# checked by Hank" in text
    assert list_backups(path)[-1].read_bytes() == edited.replace("\n", "\r\n").encode()
    assert f"kept commented out: {scored.hub}" in out and "added: none" in out and "removed: none" in out

    meta = json.loads(metadata_file(root).read_text())
    assert meta[scored.hub]["excluded"] is False and "commented out by hand" in meta[scored.hub]["notes"]
    assert meta[scored.hub]["tracin_info"]["reincluded_date"]
    # The misfit recording was selected again with the same numbers: its record, hand edits included, is untouched
    assert meta[scored.misfit]["my_flag"] == 1 and meta[scored.misfit]["notes"].startswith("re-recorded? Excluded by TracIn")
    before = (path.read_bytes(), metadata_file(root).read_bytes())
    run(root, *TUTORIAL)
    assert (path.read_bytes(), metadata_file(root).read_bytes()) == before


def test_dropped_ids_are_reported_and_reincluded(tmp_path, make_root, run, scored):
    root = make_root(tmp_path)
    run(root, *TUTORIAL)
    meta = json.loads(metadata_file(root).read_text())
    meta[scored.misfit]["notes"] = "door slam at 0.5 s | " + meta[scored.misfit]["notes"]
    metadata_file(root).write_text(json.dumps(meta, indent=2))
    code, out, _ = run(root, "--criterion", "pairs", "--consider-both-samples", "--update-metadata")
    assert code == 0 and load_exclusions(list_file(root)).ids == [scored.hub]
    assert f"removed: {scored.misfit}" in out
    assert load_exclusions(list_backups(list_file(root))[-1]).ids == [scored.misfit, scored.hub]
    meta = json.loads(metadata_file(root).read_text())
    assert meta[scored.hub]["excluded"] is True
    gone = meta[scored.misfit]
    assert gone["excluded"] is False and gone["notes"].startswith("door slam at 0.5 s | No longer excluded by TracIn")
    assert "Excluded by TracIn" not in gone["notes"]
    # The hub's criterion changed: its tracin_info and note follow
    assert meta[scored.hub]["tracin_info"]["criterion"] == "pairs"
    assert meta[scored.hub]["notes"].count("Excluded by TracIn") == 1


def test_legacy_influence_file_with_underscored_ids(tmp_path, cli):
    """Nested JSON of raw scores written by an older tool, no matrix; the material itself contains '_'."""
    def sid(angle, take):
        return f"old_plastic_deg{angle:03d}_500hz_{take:02d}"

    train = [sid(a, t) for a in (0, 36, 72) for t in (1, 2, 3, 4)]
    val_ids = [sid(a, t) for a in (0, 36, 72) for t in (5, 6)]
    val = [(x, y) for i, x in enumerate(val_ids) for y in val_ids[i + 1:] if x[16:19] != y[16:19]]
    nested = {}
    for i, a in enumerate(train):
        for j, b in enumerate(train[i + 1:], i + 1):
            if a[16:19] != b[16:19]:  # different angles
                base = -9.0 if sid(0, 1) in (a, b) else 1.0
                nested[f"{a}_{b}"] = {f"tracin_influence_{x}_{y}": base + 0.1 * ((i * 7 + j * 3 + q) % 5)
                                      for q, (x, y) in enumerate(val)}
    meta_dir = tmp_path / "metadata"
    meta_dir.mkdir()
    path = meta_dir / "old_plastic_500hz_influence_metadata.json"
    path.write_text(json.dumps(nested, indent=4))
    assert not matrix_path_for(path).exists()
    out_file = tmp_path / "list.txt"
    argv = ["--metadata-file", str(path), "--output-file", str(out_file), "--criterion", "recordings",
            "--min-occurrences", "1"]
    code, _, err = cli(gen, argv)
    assert code == 0, err
    # Raw scores are standardised on reading: old_plastic_deg000_500hz_01's own influence is far below its angle's.
    assert load_exclusions(out_file).ids == [sid(0, 1)]


def test_auto_threshold_is_the_scale_free_default(tmp_path, make_root, run, scored):
    root = make_root(tmp_path)
    code, out, _ = run(root, "--threshold", "auto")
    assert code == 0 and "threshold auto: -3" in out
    assert "threshold: -3 (robust z)" in list_file(root).read_text()
    assert load_exclusions(list_file(root)).ids == [scored.misfit, scored.hub]


def test_no_pair_qualifies_writes_header_only(tmp_path, make_root, run):
    root = make_root(tmp_path)
    code, out, _ = run(root, "--criterion", "pairs", "--threshold", "-100", "--update-metadata")
    assert code == 0
    assert "0 harmful training pairs qualify; listing 0 recordings" in out
    parsed = load_exclusions(list_file(root))
    assert parsed.ids == [] and parsed.commented_out == []
    assert list_file(root).read_text().startswith("# TracIn exclusion list")


def test_positive_threshold_warns(tmp_path, make_root, run):
    root = make_root(tmp_path)
    code, _, err = run(root, "--threshold", "1")
    assert code == 0 and "WARNING" in err and "positive" in err


def test_plot(tmp_path, make_root, run):
    root = make_root(tmp_path)
    run(root, "--plot")
    png = list_file(root).with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    other = tmp_path / "plots" / "x.png"
    run(root, "--criterion", "pairs", "--plot", str(other))
    assert other.read_bytes()[:4] == b"\x89PNG"


def test_bad_flag_values(tmp_path, make_root, run):
    root = make_root(tmp_path)
    for flags, message in ((("--threshold", "abc"), "--threshold must be a number"),
                           (("--min-occurrences", "0"), "--min-occurrences must be at least 1"),
                           (("--min-occurrences", "7"), "--keep-lowest 7"),
                           (("--max-exclusions", "0"), "--max-exclusions must be at least 1")):
        code, _, err = run(root, *flags)
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_bad_inputs_in_a_real_process(tmp_path, make_root):
    """Missing / non-JSON influence file and malformed sample metadata: exit 1, one line, nothing overwritten."""
    root = make_root(tmp_path)
    missing = _script("--metadata-file", str(tmp_path / "nope_500hz_influence_metadata.json"), cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"generate_tracin_exclusions.py: error: influence file not found: {tmp_path / 'nope_500hz_influence_metadata.json'}"
    ]

    bad_json = tmp_path / "metadata" / "box_500hz_influence_metadata.json"
    bad_json.write_text("{'not': json}")
    r = _script("--metadata-file", str(bad_json), cwd=tmp_path)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "is not valid JSON" in r.stderr and str(bad_json) in r.stderr

    metadata_file(root).write_text('{"plastic_deg000_500hz_01": {"id": ')
    before = metadata_file(root).read_bytes()
    r = _script("--metadata-file", str(influence_file(root)), "--update-metadata", cwd=tmp_path)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "sample metadata file" in r.stderr and "not valid JSON" in r.stderr
    assert metadata_file(root).read_bytes() == before
    assert not list_file(root).exists()


def _script(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "generate_tracin_exclusions.py"), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def test_review_sheet_beside_every_list(tmp_path, make_root, run, scored):
    root = make_root(tmp_path)
    code, out, err = run(root, *TUTORIAL)
    assert code == 0
    review = list_file(root).with_name("plastic_500hz_tracin_exclusions_review.md")
    assert f"review sheet: {review}" in out
    text = review.read_text(encoding="utf-8")
    for k, sid in enumerate([scored.misfit, scored.hub], 1):
        assert f"| {k} | `{sid}` | {angle_of(sid)} |" in text
    assert "in 12 harmful training pair(s)" in text and "lands among the 108 degree recordings" in text
    # The sheet states what the cut gave, the same lines as the list's header (issue 21).
    header = [line[2:] for line in list_file(root).read_text(encoding="utf-8").splitlines()
              if line.startswith(("# result:", "# expected false listings:"))]
    assert len(header) == 2
    for line in header:
        assert f"- {line[0].upper()}{line[1:]}" in text
    csv_lines = review.with_suffix(".csv").read_text(encoding="utf-8").splitlines()
    assert len(csv_lines) == 3 and csv_lines[1].split(",")[-2] == "108"  # suggested angle column
    assert "no picture" in err  # the hand-made metadata names no WAV file that exists


def snapshot(*folders: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for folder in folders for p in sorted(folder.rglob("*")) if p.is_file()}


@contextlib.contextmanager
def read_only(folder: Path):
    """`folder` cannot be written, even by root (an immutable folder then); skips where neither works."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("running as root without chattr: cannot make a folder read-only")
        undo = ["chattr", "-i", str(folder)]
    else:
        folder.chmod(0o555)
        undo = None
    try:
        yield
    finally:
        subprocess.run(undo, check=True) if undo else folder.chmod(0o755)


def test_unwritable_metadata_folder_changes_nothing(tmp_path, make_root, run, scored, one_error_line):
    """The list, the metadata and their backups change together or not at all; a failed run
    twice over never replaces the last good list or its backup."""
    root = make_root(tmp_path)
    assert run(root, *TUTORIAL)[0] == 0
    assert run(root, "--criterion", "pairs", "--update-metadata")[0] == 0  # list: [hub]
    before = snapshot(root)
    with read_only(root / "metadata"):
        for _ in range(2):
            code, _, err = run(root, "--consider-both-samples", "--update-metadata")  # would list [misfit, hub]
            assert code == 1
            line = one_error_line(err, "generate_tracin_exclusions.py", warnings=True)  # no WAVs: no review picture
            assert str(metadata_file(root)) in line and "not writable" in line and "nothing was changed" in line
            assert snapshot(root) == before
    assert load_exclusions(list_file(root)).ids == [scored.hub]


def test_a_failure_while_writing_changes_nothing(tmp_path, make_root, run, monkeypatch, one_error_line):
    root = make_root(tmp_path)
    run(root, *TUTORIAL)
    before = snapshot(root)
    import exclusion.generate

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(exclusion.generate, "exclusion_picture", broken)
    code, _, err = run(root, "--criterion", "pairs", "--update-metadata", "--plot")
    assert code == 1 and "No space left" in one_error_line(err, "generate_tracin_exclusions.py")
    assert snapshot(root) == before


def test_backups_are_dated_and_pruned(tmp_path, make_root, run):
    root = make_root(tmp_path)
    lists = []
    for criterion in ("pairs", "misfit", "recordings") * 2 + ("pairs", "misfit"):  # each run changes the list
        assert run(root, "--criterion", criterion)[0] == 0
        lists.append(list_file(root).read_bytes())
    backups = list_backups(list_file(root))
    assert len(backups) == 5
    assert [b.read_bytes() for b in backups] == lists[-6:-1]  # the newest five previous lists, oldest first
    assert all(b.name.startswith("plastic_500hz_tracin_exclusions.txt.") and b.name.endswith(".bak") for b in backups)


def test_ids_commented_out_by_hand_in_any_spelling_stay_out(tmp_path, make_root, run, scored):
    root = make_root(tmp_path)
    run(root, *TUTORIAL)  # [misfit, hub]
    path = list_file(root)
    assert (scored.misfit, scored.hub) == ("plastic_deg000_500hz_01", "plastic_deg036_500hz_01")
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith(("plastic_deg000_500hz_01",
                                                                              "plastic_deg036_500hz_01"))]
    lines += ["# PLASTIC_DEG000_500HZ_01", "# plastic_deg36_500hz_1  listened: fine"]  # other case; no padding + a note
    path.write_text("\n".join(lines) + "\n")
    code, out, _ = run(root, *TUTORIAL)
    assert code == 0
    parsed = load_exclusions(path)
    assert parsed.ids == [] and len(parsed.commented_out) == 2
    assert "# plastic_deg36_500hz_1  listened: fine" in path.read_text()
    meta = json.loads(metadata_file(root).read_text())
    assert not [sid for sid in (scored.misfit, scored.hub) if meta[sid]["excluded"]]
    assert all("commented out by hand" in meta[sid]["notes"] for sid in (scored.misfit, scored.hub))
    again = path.read_bytes()
    run(root, *TUTORIAL)
    assert path.read_bytes() == again


def test_hand_edits_that_add_survive_a_rerun_and_are_reported(tmp_path, make_root, run, scored):
    """An id added to the list by hand stays listed with its comment; an angle changed by hand in the relabel
    file, and a line added there, are kept; every kept edit is printed."""
    root = make_root(tmp_path)
    assert run(root, *TUTORIAL)[0] == 0
    added = "plastic_deg072_500hz_02"
    path = list_file(root)
    path.write_text(path.read_text() + f"# found by ear: a door slam\n{added}\n")
    relabel = path.with_name("plastic_500hz_tracin_exclusions_relabel.txt")
    tool = f"{scored.misfit}  108  # tracin: suggested 108; stored 0; misfit"
    mine = f"{scored.misfit}  72  # tracin: suggested 108; stored 0; misfit"
    relabel.write_text(relabel.read_text().replace(tool, mine) + f"{scored.own}  108  # my own ears\n")

    code, out, _ = run(root, "--criterion", "pairs", "--consider-both-samples", "--update-metadata")
    assert code == 0
    assert load_exclusions(path).ids == [scored.hub, added]
    assert f"# found by ear: a door slam\n{added}\n" in path.read_text()
    assert f"kept listed, added by hand: {added}" in out and f"removed: {scored.misfit}" in out
    lines = relabel.read_text().splitlines()
    assert mine in lines and f"{scored.own}  108  # my own ears" in lines
    assert load_relabels(relabel) == {scored.misfit: 72, scored.own: 108}
    assert f"kept as you left it: {scored.misfit} (changed by hand; the tool suggests nothing for it now)" in out
    assert f"kept as you left it: {scored.own} (added by hand; the tool suggests nothing for it now)" in out
    meta = json.loads(metadata_file(root).read_text())
    assert meta[added]["excluded"] is False and "tracin_info" not in meta[added]  # no reasons claimed for it

    code, out, _ = run(root, *TUTORIAL)  # the misfit recording is suggested again: the person's angle stays
    assert code == 0 and load_relabels(relabel)[scored.misfit] == 72
    assert f"kept as you left it: {scored.misfit} (changed by hand; the tool suggests 108)" in out
    assert load_exclusions(path).ids == [scored.misfit, scored.hub, added]


def test_a_folder_as_output_file_is_one_line(tmp_path, make_root, run, one_error_line):
    root = make_root(tmp_path)
    (tmp_path / "lists").mkdir()
    code, _, err = run(root, "--output-file", str(tmp_path / "lists"))
    line = one_error_line(err, "generate_tracin_exclusions.py")
    assert code == 1 and f"--output-file {tmp_path / 'lists'} is a folder: name the list file, e.g. " in line
