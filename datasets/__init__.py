"""Recordings, exclusion lists, metadata, pairs and splits: the data layer every step shares.

The names below load on first use (PEP 562): `import datasets.config` needs no torch.
"""
from __future__ import annotations

from utils.lazy import lazy_getattr
_EXPORTS = {
    "AudioSpectrumDataset": "datasets.audio_dataset",
    "discover_recordings": "datasets.audio_dataset",
    "DatasetConfig": "datasets.config",
    "SpectrogramParams": "datasets.config",
    "default_data_root": "datasets.config",
    "resolve_data_root": "datasets.config",
    "ExclusionList": "datasets.exclusions",
    "load_exclusions": "datasets.exclusions",
    "parse_exclusions": "datasets.exclusions",
    "ManagedDataset": "datasets.managed",
    "Recording": "datasets.managed",
    "MetadataStore": "datasets.metadata",
    "make_pairs": "datasets.pairs",
    "pair_id": "datasets.pairs",
    "stratified_split": "datasets.pairs",
}

__all__ = list(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
