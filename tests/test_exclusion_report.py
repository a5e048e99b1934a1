"""Why a recording was excluded, in words and in the sample metadata, worked on hand-made selections: each
clause quotes its criterion's own number, a person's notes and keys survive, a take no longer selected goes
back in with the reason, a take excluded by hand is left alone, and the list header names every flag."""
from __future__ import annotations

import numpy as np

from exclusion.config import ExclusionConfig
from exclusion.report import (
    apply_to_metadata,
    base_fields,
    decisions,
    header_lines,
    merge_note,
    reason,
    run_info_lines,
    stamp_records,
)
from exclusion.rules import Exclusion, Selection
from influence.records import CheckpointUse, InfluenceRun

A, B, C = "plastic_deg000_500hz_01", "plastic_deg036_500hz_02", "plastic_deg072_500hz_03"
VAL = ["v0_v1", "v0_v2", "v1_v2"]


def exclusion(sid=A, rules=("pairs",), **kw) -> Exclusion:
    values = dict(strength=4.0, numbers={"pairs": 4.0, "misfit": 1.5}, negative_occurrences=2, average_influence=-4.5,
                  affected=np.array([0, 2]), harmful_pairs=3, misfit=1.5, ranker_angle=36.0, suggested_angle=36.0)
    return Exclusion(sample_id=sid, rules=tuple(rules), **{**values, **kw})


def selection(*exclusions, criterion="combined", threshold=-3.0) -> Selection:
    return Selection(criterion, threshold, 5, list(exclusions), qualifying=len(exclusions))


def test_each_clause_quotes_the_number_of_the_criterion_it_names():
    both = exclusion(rules=("pairs", "misfit"))
    text = reason(both, selection(both), 40)
    assert text == ("in 3 harmful training pair(s) (below -3 on at least 5 of 40 validation pairs; 4.0 robust SD more "
                    "than a typical recording); its ranker score lands among the 36 degree recordings (misfit 1.5 robust SD)")
    # Listed by misfit alone, TracIn's harmful pairs still explain how the take hurts, said as TracIn's.
    alone = exclusion(rules=("misfit",))
    assert reason(alone, selection(alone), 40).startswith("TracIn: in 3 harmful training pair(s)")
    broken = exclusion(rules=("profile",), p_wrong=0.99, p_broken=0.97, numbers={"profile": 0.99})
    assert "fits no angle (broken take, p=0.97)" in reason(broken, selection(broken, criterion="profile"), 40)


def test_metadata_records_every_decision_and_keeps_what_a_person_wrote():
    records = {
        A: {"id": A, "angle": 0, "excluded": False, "notes": "listened twice", "mine": 1},
        B: {"id": B, "excluded": True, "notes": "Excluded by TracIn (criterion=pairs, threshold=-3) on 2026-01-01: x",
            "tracin_info": {"exclusion_date": "2026-01-01", "criterion": "pairs"}},
        C: {"id": C, "excluded": True, "notes": "noisy, by hand"},  # excluded by hand: no tracin_info
    }
    sel = selection(exclusion(A), exclusion("plastic_deg108_500hz_04"))
    update = apply_to_metadata(records, sel, VAL, "2026-02-02", run="f" * 16)
    assert update.newly_excluded == [A, "plastic_deg108_500hz_04"] and update.created == ["plastic_deg108_500hz_04"]
    assert update.reincluded == [B] and records[C]["excluded"] is True and "tracin_info" not in records[C]
    a = records[A]
    assert a["mine"] == 1 and a["notes"].startswith("listened twice | Excluded by TracIn (criterion=combined, threshold=-3)")
    info = a["tracin_info"]
    assert info["affected_test_samples"] == ["v0_v1", "v1_v2"] and info["rule"] == "pairs" and info["tracin_run"] == "f" * 16
    assert (info["negative_occurrences"], info["average_influence"], info["suggested_angle"]) == (2, -4.5, 36)
    assert records["plastic_deg108_500hz_04"]["angle"] == 108 and records["plastic_deg108_500hz_04"]["seq_num"] == 4
    b = records[B]
    assert b["excluded"] is False and b["tracin_info"]["reincluded_date"] == "2026-02-02"
    assert "No longer excluded by TracIn on 2026-02-02: not selected by criterion=combined" in b["notes"]
    assert "Excluded by TracIn" not in b["notes"]
    # The same numbers again (another day, another compute run): the record is not touched but for the run.
    again = apply_to_metadata(records, sel, VAL, "2026-03-03", run="e" * 16)
    assert again.unchanged == [A, "plastic_deg108_500hz_04"] and records[A]["tracin_info"]["exclusion_date"] == "2026-02-02"
    assert records[A]["tracin_info"]["tracin_run"] == "e" * 16
    stamp_records(records, "s" * 16, "/x/list.txt")
    assert records[A]["tracin_info"]["generate_stamp"] == "s" * 16
    assert "generate_stamp" not in decisions(records)[A]["info"] and decisions(records)[A]["excluded"] is True


def test_notes_and_base_fields():
    assert merge_note("mine | Excluded by TracIn (old)", "Excluded by TracIn (new)") == "mine | Excluded by TracIn (new)"
    assert merge_note(None, "x") == "x"
    assert base_fields(C) == {"id": C, "angle": 72, "material": "plastic", "frequency": "500hz", "seq_num": 3}
    assert base_fields("take_1") == {"id": "take_1"}


def test_the_list_header_names_every_flag_and_the_run(tmp_path):
    run = InfluenceRun(fingerprint="f" * 16, seed=3, checkpoints=[CheckpointUse(2, "c2.pt", 0.003, 1, "x"),
                                                                  CheckpointUse(3, "c3.pt", None, 1, "y")],
                       loss_type="standard", loss_config={"margin": 1.0}, measurement="margin")
    assert run_info_lines(run) == ["run fingerprint: ffffffffffffffff", "run seed: 3", "run epochs (learning rate): 2 (0.003), 3",
                                   'run loss: standard {"margin": 1.0}',
                                   "run measurement: margin; scores are robust z among comparable training items"]
    assert run_info_lines(InfluenceRun()) == []  # a run file of an older version: nothing to say
    cfg = ExclusionConfig(metadata_file=tmp_path / "m_influence_metadata.json", threshold="auto", criterion="misfit")
    header = header_lines(cfg, selection(exclusion(rules=("misfit",)), criterion="misfit", threshold=None), run)
    assert all(line.startswith("# ") for line in header)
    assert "# threshold: -3 (robust z) (not used)" in header and "# min-occurrences: 5 (not used)" in header
    assert "# consider-both-samples: no (not used)" in header and "# result: 1 qualifying recordings, 1 recordings listed" in header
    assert "# run fingerprint: ffffffffffffffff" in header
