"""The criteria generate_tracin_exclusions.py offers, by name (importing this needs no numpy).

What each one does: `exclusion.rules`. The tutorial's `--threshold` and `--min-occurrences`
defaults live beside step 2's settings in `influence.config` (`DEFAULT_THRESHOLD`,
`DEFAULT_MIN_OCCURRENCES`, used by the harmful-pair rule, `influence.harm`): step 2 also writes
the harmful pairs of the nested JSON by them.
"""
from __future__ import annotations

PROFILE = "profile"
PAIRS = "pairs"
RECORDINGS = "recordings"
SELF_INFLUENCE = "self-influence"
MISFIT = "misfit"
COMBINED = "combined"
CRITERIA = (PROFILE, COMBINED, PAIRS, RECORDINGS, SELF_INFLUENCE, MISFIT)
DEFAULT_CRITERION = PROFILE
COMPOSITES = {COMBINED: (PAIRS, MISFIT)}
"""Criteria made of others: a take is listed when any part lists it; takes listed by every part come first."""
USES_TRACIN_THRESHOLD = (PAIRS, RECORDINGS, COMBINED)
"""The criteria whose cut reads --threshold and --min-occurrences (the others cut on their own scale)."""
USES_CONSIDER_BOTH = (PAIRS, COMBINED)
"""The criteria --consider-both-samples changes."""
