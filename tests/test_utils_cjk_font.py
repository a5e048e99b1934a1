"""The font hook: what `make` installs, and that the toolkit's own figures render Chinese."""
from __future__ import annotations

import subprocess
import sys
import sysconfig

from utils import cjk_font


def test_install_writes_the_hook_and_a_python_that_loads_it_registers_the_font(tmp_path):
    pth = cjk_font.install(tmp_path)
    assert pth.read_text() == "import sinetone_cjk_font; sinetone_cjk_font.watch()\n"
    assert (tmp_path / "sinetone_cjk_font.py").read_text() == open(cjk_font.__file__, encoding="utf-8").read()
    # A Python started without site (-S): the venv's packages on the path but none of its .pth files, then
    # `site.addsitedir` runs only the .pth just written, as start-up does.
    purelib = sysconfig.get_paths()["purelib"]
    code = ("import sys; sys.path.append({lib!r}); import matplotlib; families = list(matplotlib.rcParams['font.family']); "
            "{add}from matplotlib import font_manager; print(families, matplotlib.rcParams['font.family'])")
    for add, expected in (("", "['sans-serif'] ['sans-serif']"),
                          (f"import site; site.addsitedir({str(tmp_path)!r}); ", "['sans-serif'] ['sans-serif', 'Noto Sans TC']")):
        r = subprocess.run([sys.executable, "-S", "-c", code.format(lib=purelib, add=add)], capture_output=True, text=True,
                           timeout=120, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == expected


def test_toolkit_figures_draw_chinese_without_missing_glyphs(tmp_path):
    # pytest.ini turns a missing-glyph warning into an error.
    from utils.figures import plt, save_figure

    fig, ax = plt.subplots()
    ax.set_title("排除樣本的角度分佈 (plastic_deg036_500hz_04)")
    save_figure(fig, tmp_path / "title.png")
    assert cjk_font.register() and (tmp_path / "title.png").read_bytes()[:4] == b"\x89PNG"
