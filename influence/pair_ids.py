"""Pair ids, `{id_a}_{id_b}` (`datasets.pairs.pair_id`), split back into their two sample ids: only
for nested JSON files without the matrix beside them (the matrix keeps pairs as indices)."""
from __future__ import annotations

from datasets.sample_id import is_sample_id


def _splits(pair_key: str, valid) -> list[tuple[str, str]]:
    return [
        (pair_key[:i], pair_key[i + 1 :])
        for i, ch in enumerate(pair_key)
        if ch == "_" and valid(pair_key[:i]) and valid(pair_key[i + 1 :])
    ]


def split_pair_id(pair_key: str, known_ids: set[str] | None = None) -> tuple[str, str]:
    """Split `{id_a}_{id_b}` into its two sample ids, never on '_' alone.

    Every '_' position is tried. With `known_ids`, a split whose halves are both known ids
    is taken; when no split has two known halves (or no ids are given) each half must
    be a sample id (`datasets.sample_id`). Exactly one split must fit: none, or more than one, is
    a ValueError naming the pair id.
    """
    if known_ids:
        found = _splits(pair_key, known_ids.__contains__)
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ValueError(
                f"pair id {pair_key!r} is ambiguous: it splits into known sample ids in {len(found)} ways "
                f"({'; '.join(' + '.join(f) for f in found)})"
            )
    found = _splits(pair_key, is_sample_id)
    if len(found) == 1:
        return found[0]
    if not found:
        raise ValueError(
            f"cannot split pair id {pair_key!r} into two sample ids "
            "({material}_deg{angle}_{frequency}_{take}, or ids in the sample metadata)"
        )
    raise ValueError(
        f"pair id {pair_key!r} is ambiguous: it splits into two sample ids in {len(found)} ways "
        f"({'; '.join(' + '.join(f) for f in found)}); put the sample metadata beside the influence file"
    )
