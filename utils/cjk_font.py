"""Traditional Chinese in matplotlib: Noto Sans TC (the pinned `pylopdf-fonts-zh-tw` package) as a fallback font.

matplotlib finds fonts in its own font cache, which knows only system fonts and its own;
it has no setting that names a font file. So `make` installs a start-up hook into the
virtual environment (`python -m utils.cjk_font install`: a `.pth` file plus a copy of this
module in site-packages): whenever any program in the venv imports
`matplotlib.font_manager`, the hook registers the font file and appends its family to
`font.family`. Latin text keeps matplotlib's default font (DejaVu Sans); a character it
lacks (every Chinese one) falls back to Noto Sans TC. So the tutorial's own snippet,
`plt.title('排除樣本的角度分佈')`, renders in a plain `python` of the venv, run from any
folder, and the toolkit's plots too (`utils.figures` also calls `register()` itself, for a
venv set up by hand).

    python -m utils.cjk_font install   # what `make` runs after pip
    python -m utils.cjk_font check     # which font file, and whether matplotlib uses it

At start-up this module imports nothing but `sys` (every Python of the venv loads it): the
hook costs nothing until matplotlib is imported.
"""
from __future__ import annotations

import sys

FAMILY = "Noto Sans TC"
HOOK_NAME = "sinetone_cjk_font"
WATCHED = "matplotlib.font_manager"


def font_file():
    """The Noto Sans TC file (a Path) of the installed font package, or None when it is not installed."""
    from pathlib import Path

    try:
        from pylopdf_fonts_zh_tw import sans_path
    except ImportError:
        return None
    path = Path(sans_path())
    return path if path.is_file() else None


def register(font_manager=None) -> bool:
    """Make matplotlib know the font and fall back to it; True when the font is in use."""
    path = font_file()
    if path is None:
        return False
    if font_manager is None:
        from matplotlib import font_manager
    import matplotlib

    manager = font_manager.fontManager
    if not any(entry.name == FAMILY for entry in manager.ttflist):
        manager.addfont(str(path))
    families = matplotlib.rcParams["font.family"]
    if FAMILY not in families:
        matplotlib.rcParams["font.family"] = [*families, FAMILY]
    return True


class _RegisterAfterImport:
    """A meta path finder that finds nothing itself: when `matplotlib.font_manager` is
    imported, it runs `register` right after the module has run."""

    def find_spec(self, name, path=None, target=None):
        if name != WATCHED:
            return None
        import importlib.util

        sys.meta_path.remove(self)  # once, and out of the way of the real search below
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run_module = spec.loader.exec_module

        def exec_module(module):
            run_module(module)
            try:
                register(module)
            except Exception as exc:  # a broken font must never break matplotlib itself
                print(f"{HOOK_NAME}: could not register {FAMILY}: {exc}", file=sys.stderr)

        spec.loader.exec_module = exec_module
        return spec


def watch() -> None:
    """Install the hook in this interpreter (what the `.pth` file runs at start-up)."""
    if WATCHED in sys.modules:
        register(sys.modules[WATCHED])
    elif not any(isinstance(f, _RegisterAfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterImport())


def install(site_packages=None):
    """Copy this module into `site_packages` (default: this interpreter's) and add the `.pth` that runs `watch()`."""
    import shutil
    import sysconfig
    from pathlib import Path

    target = Path(site_packages or sysconfig.get_paths()["purelib"])
    shutil.copyfile(Path(__file__), target / f"{HOOK_NAME}.py")
    pth = target / f"{HOOK_NAME}.pth"
    pth.write_text(f"import {HOOK_NAME}; {HOOK_NAME}.watch()\n", encoding="utf-8")
    return pth


def main(argv: list[str]) -> int:
    if argv == ["install"]:
        if font_file() is None:
            print(f"{HOOK_NAME}: the font package is not installed (pip install -r requirements.txt)", file=sys.stderr)
            return 1
        print(f"Chinese labels in matplotlib: {FAMILY} from {font_file()}, hook {install()}")
        return 0
    if argv == ["check"]:
        import matplotlib
        from matplotlib import font_manager

        found = any(entry.name == FAMILY for entry in font_manager.fontManager.ttflist)
        print(f"font file: {font_file()}\nknown to matplotlib: {'yes' if found else 'no'}\n"
              f"font.family: {matplotlib.rcParams['font.family']}")
        return 0 if found else 1
    print("usage: python -m utils.cjk_font install|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
