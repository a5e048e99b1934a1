"""The tutorial's analysis snippets run verbatim on metadata written by generate_tracin_exclusions.py."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import generate_tracin_exclusions as gen
from influence.io import save_influence

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture()
def updated_metadata(tmp_path, scored) -> Path:
    """A sample metadata file after `generate_tracin_exclusions.py --update-metadata` (2 recordings excluded)."""
    meta_dir = tmp_path / "metadata"
    meta_dir.mkdir()
    records = {sid: {"id": sid, "angle": int(sid[11:14]), "excluded": False, "notes": ""}
               for sid in scored.ids + scored.val_ids}
    (meta_dir / "plastic_500hz_metadata.json").write_text(json.dumps(records))
    influence_file = meta_dir / "plastic_500hz_influence_metadata.json"
    save_influence(influence_file, scored.data())
    argv = ["--metadata-file", str(influence_file), "--threshold", "-3.0", "--min-occurrences", "5",
            "--consider-both-samples", "--update-metadata"]
    assert gen.main(argv) == 0  # conftest detaches the logging it sets up
    path = meta_dir / "plastic_500hz_metadata.json"
    assert sum(1 for r in json.loads(path.read_text()).values() if r["excluded"]) == 2
    return path


NO_FONT = "Chinese glyphs missing: run `make` (or `python -m utils.cjk_font install`) to teach the venv's matplotlib the font"


def test_analysis_snippet_writes_both_histograms_in_chinese(updated_metadata, tmp_path):
    out = tmp_path / "plots"
    env = dict(os.environ, MPLBACKEND="Agg")
    r = subprocess.run([sys.executable, str(REPO / "examples" / "analyze_excluded_samples.py"), str(updated_metadata),
                        str(out)], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "missing from font" not in r.stderr, NO_FONT
    for name in ("excluded_angles.png", "excluded_influence_scores.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
        assert f"wrote {out / name}" in r.stdout.splitlines()


def test_tutorial_snippet_in_a_plain_python_finds_every_glyph(tmp_path):
    # The tutorial's lines as a user types them into a fresh interpreter of the venv: no set-up of our own.
    snippet = ("import matplotlib.pyplot as plt\n"
               "plt.hist([0, 36, 36, -72], bins=36)\n"
               "plt.title('排除樣本的角度分佈')\n"
               "plt.xlabel('角度')\n"
               "plt.ylabel('樣本數')\n"
               "plt.savefig('excluded_angles.png')\n"
               "from matplotlib import font_manager\n"
               "print(font_manager.findfont('Noto Sans TC', fallback_to_default=False))\n")
    r = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                       env={k: v for k, v in os.environ.items() if k != "MPLBACKEND"})
    assert r.returncode == 0 and "missing from font" not in r.stderr, f"{NO_FONT}\n{r.stderr}"
    assert r.stdout.strip().endswith("NotoSansTC-Regular.otf")
    assert (tmp_path / "excluded_angles.png").read_bytes()[:4] == b"\x89PNG"


def test_tutorial_one_liner_lists_the_excluded_records(updated_metadata):
    # The tutorial's `python -c` command, with the tutorial's path replaced.
    code = ("import json; f=open('METADATA'); m=json.load(f); "
            "print(json.dumps([v for k,v in m.items() if v.get('excluded')], indent=2))").replace(
        "METADATA", str(updated_metadata))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    assert len(listed) == 2
    for record in listed:
        info = record["tracin_info"]
        assert set(info) >= {"exclusion_date", "negative_occurrences", "average_influence", "affected_test_samples",
                             "suggested_angle"}
        assert isinstance(info["average_influence"], float) and record["notes"].startswith("Excluded by TracIn")
    assert {r["tracin_info"]["rule"] for r in listed} == {"pairs", "misfit"}
