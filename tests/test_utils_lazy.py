import subprocess
import sys
from pathlib import Path

import pytest

from utils.lazy import lazy_getattr


def test_names_load_their_module_on_first_use():
    getattr_ = lazy_getattr("pkg", {"dumps": "json", "sqrt": "math"})
    import json
    import math

    assert getattr_("dumps") is json.dumps and getattr_("sqrt") is math.sqrt
    with pytest.raises(AttributeError, match="module 'pkg' has no attribute 'nope'"):
        getattr_("nope")


def test_light_submodules_of_the_lazy_packages_import_without_torch():
    code = ("import sys, models.presets, datasets.config, losses.config; "
            "assert 'torch' not in sys.modules; import losses; print(losses.LOSS_TYPES)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "('standard', 'ghm')"
