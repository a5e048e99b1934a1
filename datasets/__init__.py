"""Recordings, exclusions, pairs and splits: the data layer the three scripts share."""
from datasets.audio_dataset import AudioSpectrumDataset, discover_recordings
from datasets.config import DatasetConfig, default_data_root
from datasets.exclusions import ExclusionList, load_exclusions, parse_exclusions
from datasets.managed import ManagedDataset, Recording
from datasets.metadata import MetadataStore
from datasets.pairs import make_pairs, pair_id, stratified_split

__all__ = [
    "AudioSpectrumDataset",
    "DatasetConfig",
    "ExclusionList",
    "ManagedDataset",
    "MetadataStore",
    "Recording",
    "default_data_root",
    "discover_recordings",
    "load_exclusions",
    "make_pairs",
    "pair_id",
    "parse_exclusions",
    "stratified_split",
]
