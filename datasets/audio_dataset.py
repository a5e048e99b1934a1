"""`AudioSpectrumDataset`: recordings on disk -> cached spectrograms, with exclusions applied."""
from __future__ import annotations

import hashlib
import logging
import mmap
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from datasets.audio import cache_key, file_hasher, spectrogram_and_digest
from datasets.config import DatasetConfig
from datasets.managed import ManagedDataset, Recording
from datasets.sample_id import SampleId, wav_glob

log = logging.getLogger(__name__)

_FOLDER_RE = re.compile(r"^deg(\d{3})$")
STACK_PREFIX = "stack-"


def search_pattern(config: DatasetConfig, frequency: str) -> str:
    return f"{config.data_root}/{wav_glob(config.material, frequency)}"


def discover_recordings(config: DatasetConfig) -> list[Recording]:
    """Find `{root}/deg*/{material}/{material}_deg*_{freq}_*.wav`; angle from folder and name must agree."""
    root = config.data_root
    patterns = " or ".join(search_pattern(config, f) for f in config.frequencies)
    if not root.is_dir():
        raise FileNotFoundError(f"data root not found: {root} (searched {patterns})")
    found: list[Recording] = []
    for frequency in config.frequencies:
        for path in sorted(root.glob(wav_glob(config.material, frequency))):
            folder = _FOLDER_RE.match(path.parent.parent.name)
            sid = SampleId.match(path.stem)
            if folder is None or sid is None or sid.material != config.material:
                continue  # _warn_unnamed names it
            if int(folder.group(1)) != sid.angle:
                raise ValueError(f"{path}: folder says {int(folder.group(1))} degrees, file name says {sid.angle}")
            found.append(Recording(path.stem, sid.angle, config.material, sid.frequency, sid.seq, path))
    _warn_unnamed(config)
    if not found:
        raise FileNotFoundError(f"no recordings match {patterns}")
    return found


def _well_named(path: Path, material: str) -> bool:
    sid = SampleId.match(path.stem)
    return path.suffix == ".wav" and sid is not None and sid.material == material \
        and _FOLDER_RE.match(path.parent.parent.name) is not None


def _warn_unnamed(config: DatasetConfig) -> None:
    """One warning for WAV files in the material's folders whose names follow no frequency's pattern
    (`recording_03.wav`): they are not used, and a person should know."""
    m = config.material
    odd = sorted(str(p.relative_to(config.data_root)) for p in config.data_root.glob(f"deg*/{m}/*")
                 if p.suffix.lower() == ".wav" and not _well_named(p, m))
    if odd:
        log.warning("ignoring %d WAV file(s) that do not follow deg<angle>/%s/%s_deg<angle>_<frequency>_<take>.wav"
                    " (angle in 3 digits): %s%s",
                    len(odd), m, m, ", ".join(odd[:5]), f" and {len(odd) - 5} more" if len(odd) > 5 else "")


class AudioSpectrumDataset(ManagedDataset, Dataset):
    """All recordings' log-magnitude spectrograms; items are the valid ones.

    `spectrograms` has shape (N, F, T) for every recording, excluded ones too (their scores
    are still reported), F the `freq_bins` the model reads when the config names them. With
    the cache on, it is a memory-mapped stack in the cache folder (`stack-<key>.npy`, the key
    covering every file's bytes and the spectrogram settings): pages are read as they are
    used, so thousands of recordings need not sit in memory. `file_sha256[i]` is the sha256
    of recording i's file; `dataset[k]` yields (spectrogram (F, T), angle, sample id) of the
    k-th valid recording.
    """

    def __init__(self, config: DatasetConfig, progress: bool = True, register: bool = True):
        super().__init__(config, discover_recordings(config))
        self.file_sha256: list[str] = []  # of each recording's bytes, in `sample_ids` order
        if config.cache_dir is None:
            self.spectrograms = self._in_memory(progress)
        else:
            self.spectrograms = self._mapped(config.cache_dir, progress)
        if register:
            self.register_metadata()

    def _bar(self, what: str, progress: bool):
        return tqdm(self.recordings, desc=what, unit="file", disable=not progress, leave=False)

    def _in_memory(self, progress: bool) -> torch.Tensor:
        specs = torch.empty(0)
        # Filled in place: stacking a list would hold every spectrogram twice at the peak.
        for k, r in enumerate(self._bar("spectrograms", progress)):
            spec, digest = spectrogram_and_digest(r.path, self.config.spectrogram, None, self.config.freq_bins)
            self.file_sha256.append(digest)
            if k == 0:
                specs = torch.empty((len(self.recordings), *spec.shape), dtype=spec.dtype)
            specs[k] = spec
        return specs

    def _mapped(self, cache: Path, progress: bool) -> torch.Tensor:
        params, bins = self.config.spectrogram, self.config.freq_bins
        # Each file hashed once: the stack's key, the recordings' identities, and (first build) the cache keys.
        hashers = [file_hasher(r.path) for r in self._bar("hashing", progress)]
        self.file_sha256 = [h.hexdigest() for h in hashers]
        key = hashlib.sha256("\n".join([cache_key(params, bins), *self.file_sha256]).encode()).hexdigest()[:32]
        stack = cache / f"{STACK_PREFIX}{key}.npy"
        if not stack.is_file():
            self._write_stack(stack, cache, progress, hashers)
        try:
            mapped = np.load(stack, mmap_mode="c", allow_pickle=False)  # copy-on-write: never changes the file
        except (ValueError, OSError):
            log.warning("rebuilding unreadable spectrogram stack %s", stack)
            self._write_stack(stack, cache, progress, hashers)
            mapped = np.load(stack, mmap_mode="c", allow_pickle=False)
        self._mapping = mapped
        return torch.from_numpy(mapped)

    def release_pages(self) -> None:
        """Drop the memory-mapped spectrograms' pages from this process's memory (they stay in the
        page cache and are read back if used again): once every gradient is taken, the stack of
        10,000 recordings would otherwise count 1.8 GB towards the peak for nothing."""
        mapping = getattr(getattr(self, "_mapping", None), "_mmap", None)
        if mapping is not None and hasattr(mapping, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
            mapping.madvise(mmap.MADV_DONTNEED)

    def _write_stack(self, stack: Path, cache: Path, progress: bool, hashers: list) -> None:
        params, bins = self.config.spectrogram, self.config.freq_bins
        stack.parent.mkdir(parents=True, exist_ok=True)
        out = None
        fd, tmp = tempfile.mkstemp(prefix=f".{stack.name}.", suffix=".tmp", dir=stack.parent)
        os.close(fd)
        try:
            for k, r in enumerate(self._bar("spectrograms", progress)):
                spec = spectrogram_and_digest(r.path, params, cache, bins, hashers[k])[0]
                if out is None:
                    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                                    shape=(len(self.recordings), *spec.shape))
                out[k] = spec.numpy()
            if out is not None:
                out.flush()
                del out
            os.replace(tmp, stack)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def __len__(self) -> int:
        return len(self.valid_indices)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, float, str]:
        i = int(self.valid_indices[k])
        return self.spectrograms[i], float(self.angles[i]), self.sample_ids[i]
