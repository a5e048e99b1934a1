"""`AudioSpectrumDataset`: recordings on disk -> cached spectrograms, with exclusions applied."""
from __future__ import annotations

import logging
import re

import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from datasets.audio import spectrogram_and_digest
from datasets.config import DatasetConfig
from datasets.managed import ManagedDataset, Recording
from utils.constants import SAMPLE_ID_RE

log = logging.getLogger(__name__)

_FOLDER_RE = re.compile(r"^deg(\d{3})$")


def search_pattern(config: DatasetConfig, frequency: str) -> str:
    m = config.material
    return f"{config.data_root}/deg*/{m}/{m}_deg*_{frequency}_*.wav"


def discover_recordings(config: DatasetConfig) -> list[Recording]:
    """Find `{root}/deg*/{material}/{material}_deg*_{freq}_*.wav`; angle from folder and name must agree."""
    root = config.data_root
    patterns = " or ".join(search_pattern(config, f) for f in config.frequencies)
    if not root.is_dir():
        raise FileNotFoundError(f"data root not found: {root} (searched {patterns})")
    found: list[Recording] = []
    for frequency in config.frequencies:
        for path in sorted(root.glob(f"deg*/{config.material}/{config.material}_deg*_{frequency}_*.wav")):
            folder = _FOLDER_RE.match(path.parent.parent.name)
            match = SAMPLE_ID_RE.match(path.stem)
            if folder is None or match is None or match["material"] != config.material:
                log.warning("skipping %s: name does not follow {material}_deg{angle}_{freq}_{take}.wav", path)
                continue
            if int(folder.group(1)) != int(match["angle"]):
                raise ValueError(f"{path}: folder says {int(folder.group(1))} degrees, file name says {int(match['angle'])}")
            found.append(
                Recording(path.stem, int(match["angle"]), config.material, match["frequency"], int(match["seq"]), path)
            )
    if not found:
        raise FileNotFoundError(f"no recordings match {patterns}")
    return found


class AudioSpectrumDataset(ManagedDataset, Dataset):
    """All recordings' log-magnitude spectrograms in memory; items are the valid ones.

    `spectrograms` has shape (N, F, T) for every recording, excluded ones too (their scores
    are still reported); `file_sha256[i]` is the sha256 of recording i's file; `dataset[k]`
    yields (spectrogram (F, T), angle, sample id) of the k-th valid recording.
    """

    def __init__(self, config: DatasetConfig, progress: bool = True, register: bool = True):
        super().__init__(config, discover_recordings(config))
        params = config.spectrogram
        cache = config.cache_dir
        self.spectrograms = torch.empty(0)
        self.file_sha256: list[str] = []  # of each recording's bytes, in `sample_ids` order
        # Filled in place: stacking a list would hold every spectrogram twice at the peak.
        for k, r in enumerate(tqdm(self.recordings, desc="spectrograms", unit="file", disable=not progress, leave=False)):
            spec, digest = spectrogram_and_digest(r.path, params, cache)
            self.file_sha256.append(digest)
            if k == 0:
                self.spectrograms = torch.empty((len(self.recordings), *spec.shape), dtype=spec.dtype)
            self.spectrograms[k] = spec
        if register:
            self.register_metadata()

    def __len__(self) -> int:
        return len(self.valid_indices)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, float, str]:
        i = int(self.valid_indices[k])
        return self.spectrograms[i], float(self.angles[i]), self.sample_ids[i]
