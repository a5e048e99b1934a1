"""The demo's step runner: every step numbered against one total, run or skipped, each run's output in its log."""
from __future__ import annotations

import pytest

from pipeline.steps import StepFailed, StepRunner, slug


def test_steps_run_and_skipped_count_up_to_the_total(tmp_path, capsys):
    steps = StepRunner(tmp_path / "logs", total=3, live=False)
    assert steps.run("say (hello)", ["-c", "print('hello')"]).strip() == "hello"
    steps.skip("retrain: act, seed 0", "it changes the same takes as exclude: its run reused")
    steps.run("say again", ["-c", "print('again')"])
    out = capsys.readouterr().out
    assert "[1/3] say (hello): python -c print('hello')" in out
    assert "[2/3] retrain: act, seed 0: not run, it changes the same takes as exclude" in out
    assert "[3/3] say again" in out and steps.done == steps.total
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["01_say-hello.log", "03_say-again.log"]
    assert set(steps.seconds) == {"say (hello)", "say again"}


def test_a_failed_step_names_itself_its_last_line_and_its_log(tmp_path):
    steps = StepRunner(tmp_path, total=1, live=False)
    with pytest.raises(StepFailed, match=r"step 'boom' failed \(exit 3\): bad thing  \[log: .*01_boom.log\]"):
        steps.run("boom", ["-c", "import sys; print('bad thing', file=sys.stderr); sys.exit(3)"])
    assert slug("retrain (tracin pairs)") == "retrain-tracin-pairs"
