"""Shared test settings.

The models in the tests are tiny: one torch thread is fastest, and two OpenMP threads on
a busy 2-core machine can be a hundred times slower. Subprocesses inherit the variable.
"""
import logging
import os

import pytest
import torch

os.environ["OMP_NUM_THREADS"] = "1"


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _reset_logging():
    """Scripts' main() points logging at the captured stderr of its test; detach it afterwards."""
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if type(h) is logging.StreamHandler]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
