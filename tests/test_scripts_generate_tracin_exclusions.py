"""generate_tracin_exclusions.py end to end on real files in tmp_path, with hand-worked answers.

The matrix is conftest's `hand_matrix` (recordings A..E): threshold -1 and min-occurrences 2
give the list [A, D, B] (one recording per pair) or [A, B, C, D, E] (both recordings).
"""
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import generate_tracin_exclusions as gen
from datasets.exclusions import load_exclusions
from influence.io import InfluenceData, save_influence
from influence.stats import suggest_threshold
from utils.backups import list_backups
from utils.constants import angle_of, matrix_path_for

REPO = Path(__file__).resolve().parent.parent
TUTORIAL = ("--threshold", "-1", "--min-occurrences", "2", "--max-exclusions", "30", "--verbose", "--update-metadata")


@pytest.fixture
def make_root(hand_matrix):
    """`make_root(folder, self_influence=False)`: folder/metadata with the sample metadata (with a
    user key) and the influence file + matrix of the hand-worked matrix."""

    def make(folder: Path, self_influence: bool = False) -> Path:
        meta_dir = folder / "metadata"
        meta_dir.mkdir(parents=True)
        records = {}
        for sid in hand_matrix.ids + hand_matrix.val_ids:
            angle = angle_of(sid)
            records[sid] = {"id": sid, "file_path": f"deg{angle:03d}/plastic/{sid}.wav", "angle": angle,
                            "material": "plastic", "frequency": "500hz", "seq_num": 1, "excluded": False,
                            "notes": "", "listened": "yes"}
        (meta_dir / "plastic_500hz_metadata.json").write_text(json.dumps(records, indent=2))
        data = InfluenceData(hand_matrix.pairs, hand_matrix.val_pairs, hand_matrix.influence,
                             info={"seed": 3, "loss_type": "standard"})
        if self_influence:
            data.recording_ids = list(hand_matrix.ids)
            data.recording_self_influence = np.array([1.0, 1.2, 0.9, 1.1, 10.0])
        save_influence(meta_dir / "plastic_500hz_influence_metadata.json", data)
        return folder

    return make


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


def test_tutorial_flags_pairs_rule(tmp_path, make_root, run, hand_matrix):
    A, B, C, D, E = hand_matrix.ids
    val_keys = [f"{a}_{b}" for a, b in hand_matrix.val_pairs]
    root = make_root(tmp_path)
    out_file = tmp_path / "lists" / "mine.txt"
    code, out, _ = run(root, "--output-file", str(out_file), *TUTORIAL)
    assert code == 0
    assert load_exclusions(out_file).ids == [A, D, B]
    text = out_file.read_text()
    for expected in ("written 2", str(influence_file(root).resolve()), "criterion: pairs", "threshold: -1",
                     "min-occurrences: 2", "max-exclusions: 30", "consider-both-samples: no", 'run seed: 3'):
        assert expected in text
    assert all(line.startswith("# ") for line in text.splitlines()[: text.splitlines().index(A)])

    meta = json.loads(metadata_file(root).read_text())
    a = meta[A]
    assert a["excluded"] is True and a["listened"] == "yes" and a["file_path"].endswith(f"{A}.wav")
    info = a["tracin_info"]
    assert info["negative_occurrences"] == 3
    assert info["average_influence"] == pytest.approx(-2.4)
    assert info["affected_test_samples"] == sorted(val_keys[:3])
    assert info["criterion"] == "pairs" and info["threshold"] == -1.0 and info["harmful_pairs"] == 2
    assert info["exclusion_date"] in a["notes"] and "criterion=pairs, threshold=-1" in a["notes"]
    assert [sid for sid, r in meta.items() if r["excluded"]] == [A, B, D]
    assert len(list_backups(metadata_file(root))) == 1


def test_default_output_file_and_consider_both(tmp_path, make_root, run, hand_matrix):
    A, B, C, D, E = hand_matrix.ids
    root = make_root(tmp_path)
    code, _, _ = run(root, "--threshold", "-1", "--min-occurrences", "2", "--consider-both-samples")
    assert code == 0 and load_exclusions(list_file(root)).ids == [A, B, C, D, E]
    # one slot left at pair (D, E): only the more harmful D
    run(root, "--threshold", "-1", "--min-occurrences", "2", "--consider-both-samples", "--max-exclusions", "4",
        )
    assert load_exclusions(list_file(root)).ids == [A, B, C, D]
    run(root, "--threshold", "-1", "--min-occurrences", "2", "--max-exclusions", "2")
    assert load_exclusions(list_file(root)).ids == [A, D]


def test_recordings_criterion(tmp_path, make_root, run, hand_matrix):
    A, B, C, D, E = hand_matrix.ids
    root = make_root(tmp_path)
    code, _, _ = run(root, "--criterion", "recordings", "--threshold", "-2.5", "--min-occurrences", "2",
                     "--update-metadata")
    assert code == 0 and load_exclusions(list_file(root)).ids == [A, C, D, B]
    info = json.loads(metadata_file(root).read_text())[C]["tracin_info"]
    assert info["negative_occurrences"] == 2 and info["average_influence"] == pytest.approx(-5.5)


def test_self_influence_criterion(tmp_path, make_root, run, hand_matrix):
    A, B, C, D, E = hand_matrix.ids
    val_keys = [f"{a}_{b}" for a, b in hand_matrix.val_pairs]
    root = make_root(tmp_path, self_influence=True)
    code, _, err = run(root, "--criterion", "self-influence", "--update-metadata", "--verbose")
    assert code == 0 and load_exclusions(list_file(root)).ids == [E]
    assert "does not use --threshold or --min-occurrences" in err
    info = json.loads(metadata_file(root).read_text())[E]["tracin_info"]
    assert info["self_influence"] == 10.0 and info["average_influence"] == pytest.approx(-0.75)
    assert info["affected_test_samples"] == sorted(val_keys[:2])


def test_self_influence_missing_is_one_line_error(tmp_path, make_root, run):
    root = make_root(tmp_path)
    code, _, err = run(root, "--criterion", "self-influence")
    assert code == 1
    assert err.startswith("generate_tracin_exclusions.py: error:") and "self-influence" in err
    assert len(err.strip().splitlines()) == 1


def test_rerun_with_same_inputs_changes_nothing(tmp_path, make_root, run):
    root = make_root(tmp_path)
    run(root, *TUTORIAL)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (list_file(root), metadata_file(root))}
    code, out, _ = run(root, *TUTORIAL)
    assert code == 0
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in before} == before
    assert "unchanged" in out and "not rewritten" in out
    assert list_backups(list_file(root)) == [] and len(list_backups(metadata_file(root))) == 1  # no new backup


def test_hand_edits_survive_a_rerun(tmp_path, make_root, run, hand_matrix):
    A, B, C, D, E = hand_matrix.ids
    root = make_root(tmp_path)
    run(root, *TUTORIAL)
    path = list_file(root)
    edited = path.read_text().replace(f"{D}\n", f"# {D}\n").replace(f"{A}\n", f"{A}  # clipped at 2 s\n")
    edited += "# checked by Hank\n"
    path.write_bytes(edited.replace("\n", "\r\n").encode())  # an editor with CRLF line ends
    meta = json.loads(metadata_file(root).read_text())
    meta[B]["notes"] = "re-recorded? " + meta[B]["notes"]
    meta[B]["my_flag"] = 1
    metadata_file(root).write_text(json.dumps(meta, indent=2))

    code, out, _ = run(root, *TUTORIAL)
    assert code == 0
    new = load_exclusions(path)
    assert new.ids == [A, B] and new.commented_out == [D]  # D stays out; its slot is not refilled by E
    text = path.read_text()
    assert f"{A}  # clipped at 2 s" in text and "# checked by Hank" in text
    assert list_backups(path)[-1].read_bytes() == edited.replace("\n", "\r\n").encode()
    assert "kept commented out: " + D in out and "added: none" in out and "removed: none" in out

    meta = json.loads(metadata_file(root).read_text())
    assert meta[D]["excluded"] is False and "commented out by hand" in meta[D]["notes"]
    assert meta[D]["tracin_info"]["reincluded_date"]
    # B was selected again with the same numbers: its record, hand edits included, is untouched
    assert meta[B]["my_flag"] == 1 and meta[B]["notes"].startswith("re-recorded? Excluded by TracIn")
    # and again: nothing changes
    before = (path.read_bytes(), metadata_file(root).read_bytes())
    run(root, *TUTORIAL)
    assert (path.read_bytes(), metadata_file(root).read_bytes()) == before


def test_dropped_ids_are_reported_and_reincluded(tmp_path, make_root, run, hand_matrix):
    A, B, C, D, E = hand_matrix.ids
    root = make_root(tmp_path)
    run(root, *TUTORIAL)
    meta = json.loads(metadata_file(root).read_text())
    meta[D]["notes"] = "door slam at 0.5 s | " + meta[D]["notes"]
    metadata_file(root).write_text(json.dumps(meta, indent=2))
    # min-occurrences 3: only pair (A, B) is harmful -> A
    code, out, _ = run(root, "--threshold", "-1", "--min-occurrences", "3", "--update-metadata")
    assert code == 0 and load_exclusions(list_file(root)).ids == [A]
    assert f"removed: {D}, {B}" in out
    assert load_exclusions(list_backups(list_file(root))[-1]).ids == [A, D, B]
    meta = json.loads(metadata_file(root).read_text())
    assert meta[A]["excluded"] is True
    for sid in (B, D):
        assert meta[sid]["excluded"] is False and "No longer excluded by TracIn" in meta[sid]["notes"]
    assert meta[D]["notes"].startswith("door slam at 0.5 s | No longer excluded by TracIn")
    assert "Excluded by TracIn" not in meta[D]["notes"]
    # A's numbers changed (only one harmful pair now): its tracin_info and note follow
    assert meta[A]["tracin_info"]["harmful_pairs"] == 1
    assert meta[A]["notes"].count("Excluded by TracIn") == 1 and "3 negative occurrences" in meta[A]["notes"]


def test_legacy_influence_file_with_underscored_ids(tmp_path, cli):
    """Nested JSON written by an older tool, no matrix; the material itself contains '_'."""
    def sid(angle, take):
        return f"old_plastic_deg{angle:03d}_500hz_{take:02d}"

    a, b, c = sid(0, 1), sid(36, 1), sid(72, 1)
    v = [(sid(0, 2), sid(72, 2)), (sid(36, 2), sid(72, 2))]
    nested = {
        f"{a}_{b}": {f"tracin_influence_{v[0][0]}_{v[0][1]}": -4.0, f"tracin_influence_{v[1][0]}_{v[1][1]}": -6.0},
        f"{a}_{c}": {f"tracin_influence_{v[0][0]}_{v[0][1]}": -5.0, f"tracin_influence_{v[1][0]}_{v[1][1]}": 1.0},
        f"{b}_{c}": {f"tracin_influence_{v[0][0]}_{v[0][1]}": 2.0, f"tracin_influence_{v[1][0]}_{v[1][1]}": 2.0},
    }
    meta_dir = tmp_path / "metadata"
    meta_dir.mkdir()
    path = meta_dir / "old_plastic_500hz_influence_metadata.json"
    path.write_text(json.dumps(nested, indent=4))
    assert not matrix_path_for(path).exists()
    out_file = tmp_path / "list.txt"
    argv = ["--metadata-file", str(path), "--output-file", str(out_file), "--threshold", "-3",
            "--min-occurrences", "1", "--consider-both-samples"]
    code, _, _ = cli(gen, argv)
    assert code == 0
    # (a, b): 2 below -3, mean -5; (a, c): 1 below. Ranked (a, b), (a, c): a (2 pairs) first.
    assert load_exclusions(out_file).ids == [a, b, c]
    # With the sample metadata beside it (ids known), and --update-metadata, the same list.
    records = {s: {"id": s, "angle": int(s.split("_deg")[1][:3]), "excluded": False, "notes": ""}
               for s in (a, b, c, *v[0], *v[1])}
    (meta_dir / "old_plastic_500hz_metadata.json").write_text(json.dumps(records))
    cli(gen, argv + ["--update-metadata"])
    assert load_exclusions(out_file).ids == [a, b, c]
    meta = json.loads((meta_dir / "old_plastic_500hz_metadata.json").read_text())
    assert meta[a]["tracin_info"]["affected_test_samples"] == sorted(f"{x}_{y}" for x, y in v)


def test_auto_threshold(tmp_path, make_root, run, hand_matrix):
    A, B, C, D, E = hand_matrix.ids
    root = make_root(tmp_path)
    expected = suggest_threshold(hand_matrix.influence)
    assert expected == pytest.approx(-2 - 3 * 1.4826 * 0.5)
    code, out, _ = run(root, "--threshold", "auto", "--min-occurrences", "1")
    assert code == 0
    assert f"threshold auto: {expected:.6g}" in out
    assert f"threshold: auto ({expected!r})" in list_file(root).read_text()
    # only pair (C, D) has a score (-5) below it; C and D tie on count and sum -> the smaller id C
    assert load_exclusions(list_file(root)).ids == [C]


def test_no_pair_qualifies_writes_header_only(tmp_path, make_root, run):
    root = make_root(tmp_path)
    code, out, _ = run(root, "--threshold", "-100", "--update-metadata")
    assert code == 0
    assert "no training pairs qualify" in out
    parsed = load_exclusions(list_file(root))
    assert parsed.ids == [] and parsed.commented_out == []
    assert list_file(root).read_text().startswith("# TracIn exclusion list")


def test_positive_threshold_warns(tmp_path, make_root, run):
    root = make_root(tmp_path)
    code, _, err = run(root, "--threshold", "1", "--min-occurrences", "2")
    assert code == 0 and "WARNING" in err and "positive" in err


def test_plot(tmp_path, make_root, run):
    root = make_root(tmp_path)
    run(root, "--threshold", "-1", "--min-occurrences", "2", "--plot")
    png = list_file(root).with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    other = tmp_path / "plots" / "x.png"
    run(root, "--threshold", "-1", "--min-occurrences", "2", "--plot", str(other))
    assert other.read_bytes()[:4] == b"\x89PNG"


def test_bad_flag_values(tmp_path, make_root, run):
    root = make_root(tmp_path)
    for flags, message in ((("--threshold", "abc"), "--threshold must be a number"),
                           (("--min-occurrences", "0"), "--min-occurrences must be at least 1"),
                           (("--max-exclusions", "0"), "--max-exclusions must be at least 1")):
        code, _, err = run(root, *flags)
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1


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
    r = _script("--metadata-file", str(bad_json), "--threshold", "-1", cwd=tmp_path)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "is not valid JSON" in r.stderr and str(bad_json) in r.stderr

    metadata_file(root).write_text('{"plastic_deg000_500hz_01": {"id": ')
    before = metadata_file(root).read_bytes()
    r = _script("--metadata-file", str(influence_file(root)), "--threshold", "-1", "--update-metadata", cwd=tmp_path)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "sample metadata file" in r.stderr and "not valid JSON" in r.stderr
    assert metadata_file(root).read_bytes() == before
    assert not list_file(root).exists()


def _script(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "generate_tracin_exclusions.py"), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def test_review_sheet_beside_every_list(tmp_path, make_root, run, hand_matrix):
    A, B, C, D, E = hand_matrix.ids
    root = make_root(tmp_path)
    code, out, err = run(root, *TUTORIAL)
    assert code == 0
    review = list_file(root).with_name("plastic_500hz_tracin_exclusions_review.md")
    assert f"review sheet: {review}" in out
    text = review.read_text(encoding="utf-8")
    for k, sid in enumerate([A, D, B], 1):
        assert f"| {k} | `{sid}` | {angle_of(sid)} |" in text
    assert "harmful training pair(s): below -1 on at least 2 of 4 validation pairs" in text
    assert review.with_suffix(".csv").read_text(encoding="utf-8").count("\n") == 4
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


def test_unwritable_metadata_folder_changes_nothing(tmp_path, make_root, run, hand_matrix, one_error_line):
    """The list, the metadata and their backups change together or not at all; a failed run
    twice over never replaces the last good list or its backup."""
    A, B, C, D, E = hand_matrix.ids
    root = make_root(tmp_path)
    assert run(root, *TUTORIAL)[0] == 0
    assert run(root, "--threshold", "-1", "--min-occurrences", "3", "--update-metadata")[0] == 0  # list: [A]
    before = snapshot(root)
    with read_only(root / "metadata"):
        for _ in range(2):
            code, _, err = run(root, "--threshold", "-1", "--min-occurrences", "2", "--update-metadata")  # [A, D, B]
            assert code == 1
            line = one_error_line(err, "generate_tracin_exclusions.py")
            assert str(metadata_file(root)) in line and "not writable" in line and "nothing was changed" in line
            assert snapshot(root) == before
    assert load_exclusions(list_file(root)).ids == [A]


def test_a_failure_while_writing_changes_nothing(tmp_path, make_root, run, monkeypatch, one_error_line):
    root = make_root(tmp_path)
    run(root, *TUTORIAL)
    before = snapshot(root)
    import exclusion.generate

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(exclusion.generate, "plot_exclusions", broken)
    code, _, err = run(root, "--threshold", "-1", "--min-occurrences", "3", "--update-metadata", "--plot")
    assert code == 1 and "No space left" in one_error_line(err, "generate_tracin_exclusions.py")
    assert snapshot(root) == before


def test_backups_are_dated_and_pruned(tmp_path, make_root, run):
    root = make_root(tmp_path)
    lists = []
    for occurrences in (1, 2, 3, 1, 2, 3, 1, 2):  # each run changes the list
        assert run(root, "--threshold", "-1", "--min-occurrences", str(occurrences))[0] == 0
        lists.append(list_file(root).read_bytes())
    backups = list_backups(list_file(root))
    assert len(backups) == 5
    assert [b.read_bytes() for b in backups] == lists[-6:-1]  # the newest five previous lists, oldest first
    assert all(b.name.startswith("plastic_500hz_tracin_exclusions.txt.") and b.name.endswith(".bak") for b in backups)


def test_ids_commented_out_by_hand_in_any_spelling_stay_out(tmp_path, make_root, run, hand_matrix):
    A, B, C, D, E = hand_matrix.ids
    root = make_root(tmp_path)
    run(root, *TUTORIAL)  # [A, D, B]
    path = list_file(root)
    text = path.read_text()
    assert (A, B, D) == ("plastic_deg000_500hz_01", "plastic_deg036_500hz_01", "plastic_deg108_500hz_01")
    text = text.replace(f"{A}\n", "# PLASTIC_DEG000_500HZ_01\n")                # other case
    text = text.replace(f"{D}\n", "#plastic_deg108_500hz_1\n")                  # no zero padding
    text = text.replace(f"{B}\n", "# plastic_deg36_500hz_01  listened: fine\n")  # a note after the id
    path.write_text(text)
    code, out, _ = run(root, *TUTORIAL)
    assert code == 0
    parsed = load_exclusions(path)
    assert parsed.ids == [] and len(parsed.commented_out) == 3
    assert "# plastic_deg36_500hz_01  listened: fine" in path.read_text()
    meta = json.loads(metadata_file(root).read_text())
    assert not [sid for sid in (A, B, D) if meta[sid]["excluded"]]
    assert all("commented out by hand" in meta[sid]["notes"] for sid in (A, B, D))
    again = path.read_bytes()
    run(root, *TUTORIAL)
    assert path.read_bytes() == again
