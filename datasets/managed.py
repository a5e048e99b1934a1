"""`ManagedDataset`: the registry of recordings, which of them are still valid, and their metadata."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from datasets.config import DatasetConfig
from datasets.exclusions import describe_unknown_ids
from datasets.metadata import MetadataStore
from datasets.pairs import make_pairs
from datasets.relabels import check_relabels, load_relabels
from utils.constants import K_ANGLE, K_FILE_PATH, K_FREQUENCY, K_ID, K_MATERIAL, K_SEQ

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recording:
    sample_id: str
    angle: int
    material: str
    frequency: str
    seq_num: int
    path: Path


class ManagedDataset:
    """Recordings sorted by sample id, the exclusions applied to them, and the metadata store.

    `sample_ids[i]` and `angles[i]` describe recording i, excluded or not; `valid_indices`
    lists the recordings that survive the exclusion list. `angles` holds the relabelled
    angles of a relabel file (`datasets.relabels`); `stored_angles` the angles of the folders,
    which the split is drawn from.
    """

    def __init__(self, config: DatasetConfig, recordings: Sequence[Recording]):
        self.config = config
        self.recordings = sorted(recordings, key=lambda r: r.sample_id)
        self.sample_ids = [r.sample_id for r in self.recordings]
        self.index_of = {sid: i for i, sid in enumerate(self.sample_ids)}
        self.stored_angles = np.asarray([r.angle for r in self.recordings], dtype=np.float64)
        self.relabels: dict[str, int] = {}
        if config.relabel_file is not None:
            self.relabels = load_relabels(config.relabel_file)
            check_relabels(self.relabels, dict(zip(self.sample_ids, self.stored_angles.tolist())), config.relabel_file)
        self.angles = np.asarray([self.relabels.get(r.sample_id, r.angle) for r in self.recordings], dtype=np.float64)

        exclusions = config.load_exclusions()
        self.unknown_exclusions = [sid for sid in exclusions.ids if sid not in self.index_of]
        if self.unknown_exclusions:
            log.warning(
                "exclusions file %s names %d id(s) that match no recording: %s",
                config.exclusions_file,
                len(self.unknown_exclusions),
                ", ".join(describe_unknown_ids(self.unknown_exclusions, self.sample_ids)),
            )
        # With both files, a take the relabel file names is relabelled and kept: generate lists every take it
        # suspects and suggests an angle only for the sure label errors, so both files together mean
        # "relabel those, exclude the rest".
        self.relabelled_instead = sorted(sid for sid in exclusions.ids if sid in self.relabels)
        self.excluded_ids = sorted(sid for sid in exclusions.ids if sid in self.index_of and sid not in self.relabels)
        self._excluded = set(self.excluded_ids)
        self.valid_indices = np.asarray(
            [i for i, sid in enumerate(self.sample_ids) if sid not in self._excluded], dtype=np.int64
        )
        self.metadata = MetadataStore.load(config.resolved_metadata_file)

    def indices(self, sample_ids: Sequence[str], valid_only: bool = True) -> np.ndarray:
        """Registry indices of the given ids (unknown ids are an error), optionally dropping excluded ones."""
        missing = [sid for sid in sample_ids if sid not in self.index_of]
        if missing:
            raise ValueError(f"{len(missing)} sample id(s) not in the dataset, e.g. {missing[0]!r}")
        excluded = self._excluded if valid_only else set()
        return np.asarray([self.index_of[s] for s in sample_ids if s not in excluded], dtype=np.int64)

    def pairs(self, sample_ids: Sequence[str] | None = None, valid_only: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Ranking pairs among `sample_ids` (default: all). A pair with an excluded recording does not exist.

        Returns `pairs` (P, 2) registry indices and `targets` (P,) in {+1, -1}.
        """
        ids = self.sample_ids if sample_ids is None else sorted(sample_ids)
        return make_pairs(self.indices(ids, valid_only), self.angles)

    def register_metadata(self) -> bool:
        """Record every recording in the metadata file (atomic; other keys kept). Returns whether it wrote."""
        root = self.config.data_root.resolve()
        base = []
        for r in self.recordings:
            path = r.path.resolve()
            base.append(
                {
                    K_ID: r.sample_id,
                    K_FILE_PATH: str(path.relative_to(root)) if root in path.parents else str(path),
                    K_ANGLE: r.angle,
                    K_MATERIAL: r.material,
                    K_FREQUENCY: r.frequency,
                    K_SEQ: r.seq_num,
                }
            )
        self.metadata.register(base)
        return self.metadata.save()
