"""Which checkpoints compute uses: --epochs, --every, and whether the run was finished."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from influence.run_inputs import check_run_complete, select_checkpoints

FOUND = [(e, Path(f"model_checkpoint_epoch_{e}.pt")) for e in (5, 10, 15, 20, 25, 30)]


def epochs(chosen):
    return [e for e, _ in chosen]


def test_select_by_epochs_or_every_kth_from_the_last():
    assert epochs(select_checkpoints(FOUND)) == [5, 10, 15, 20, 25, 30]
    assert epochs(select_checkpoints(FOUND, epochs=[30, 5, 10, 10])) == [5, 10, 30]
    assert epochs(select_checkpoints(FOUND, every=2)) == [10, 20, 30]
    assert epochs(select_checkpoints(FOUND, every=4)) == [10, 30]
    assert epochs(select_checkpoints(FOUND, every=100)) == [30]
    with pytest.raises(ValueError, match="no checkpoint of epoch 7, 8 .it holds epochs 5, 10, 15, 20, 25, 30"):
        select_checkpoints(FOUND, epochs=[8, 7, 5])
    with pytest.raises(ValueError, match="not both"):
        select_checkpoints(FOUND, epochs=[5], every=2)


@pytest.mark.parametrize("run, summary, complete", [
    ({"complete": True, "config": {"frequency": "500hz", "epochs": 30}}, False, True),
    ({"complete": False, "config": {"frequency": "500hz", "epochs": 30}}, True, False),
    ({"complete": True, "config": {"frequency": "500hz", "epochs": 40}}, True, False),  # the last checkpoint is not the last
    ({"config": {"frequency": "500hz", "epochs": 30}}, True, True),  # before the flag existed: its summary says it finished
    ({"config": {"frequency": "500hz", "epochs": 30}}, False, False),
    ({"complete": True}, False, True),  # no configuration: the flag decides
])
def test_complete_runs(tmp_path, run, summary, complete):
    (tmp_path / "run.json").write_text(json.dumps(run))
    if summary:
        (tmp_path / "summary.json").write_text("{}")
    assert check_run_complete(tmp_path, FOUND, allow_incomplete=True) is complete
    if not complete:
        with pytest.raises(ValueError, match="incomplete training run: the last checkpoint found is epoch 30"):
            check_run_complete(tmp_path, FOUND)
