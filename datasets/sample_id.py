"""The sample id, `{material}_deg{angle:03d}_{frequency}_{take}` (`plastic_deg036_500hz_04`): the one place
it is parsed, formatted and turned into the WAV file's path.

A recording is `DATA_ROOT/deg{angle:03d}/{material}/{sample id}.wav`, so its id is its file stem.
People type ids by hand into lists and relabel files, in another case or without zero padding
(`PLASTIC_deg36_500hz_4`): `id_key` is what two spellings of one id share. Importing this needs
no numpy.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from utils.constants import frequency_hz

SAMPLE_ID_RE = re.compile(r"^(?P<material>.+)_deg(?P<angle>\d{3})_(?P<frequency>\d+hz)_(?P<take>\d+)$")
"""A sample id as the toolkit writes it: the angle in three digits, the frequency in lower case."""
_LOOSE_RE = re.compile(r"^(?P<material>.+)_deg(?P<angle>\d+)_(?P<frequency>\d+hz)_(?P<take>\d+)$", re.IGNORECASE)
IdKey = tuple[str, int, str, int]


@dataclass(frozen=True)
class SampleId:
    """One recording's id. `take` is the take number's digits as written (its zero padding kept)."""

    material: str
    angle: int
    frequency: str
    take: str

    @classmethod
    def of(cls, material: str, angle: int, frequency: str, take: int) -> SampleId:
        """The id of a new recording: the take in at least two digits (`..._04`)."""
        return cls(material, int(angle), frequency, f"{take:02d}")

    @classmethod
    def match(cls, text: str) -> SampleId | None:
        """The id `text` spells exactly, or None when it is not a sample id."""
        m = SAMPLE_ID_RE.match(text)
        return None if m is None else cls(m["material"], int(m["angle"]), m["frequency"], m["take"])

    @classmethod
    def parse(cls, text: str) -> SampleId:
        """The id `text` spells; a ValueError naming it when it is not a sample id."""
        found = cls.match(text)
        if found is None:
            raise ValueError(f"not a sample id: {text!r} (expected {{material}}_deg{{angle:03d}}_{{frequency}}_{{take}})")
        return found

    def __str__(self) -> str:
        return f"{self.material}_deg{self.angle:03d}_{self.frequency}_{self.take}"

    @property
    def seq(self) -> int:
        """The take number (`seq_num` in the sample metadata)."""
        return int(self.take)

    @property
    def tone_hz(self) -> float:
        """The tone's frequency: `..._500hz_04` -> 500.0."""
        return frequency_hz(self.frequency)

    @property
    def angle_folder(self) -> str:
        """`deg036`: the folder of the recordings at this angle."""
        return f"deg{self.angle:03d}"

    def wav_path(self, data_root: str | Path) -> Path:
        """`DATA_ROOT/deg036/plastic/plastic_deg036_500hz_04.wav`: where the recording lives."""
        return Path(data_root) / self.angle_folder / self.material / f"{self}.wav"


def is_sample_id(text: str) -> bool:
    """Whether `text` is a sample id as the toolkit writes it."""
    return SAMPLE_ID_RE.match(text) is not None


def angle_of(sample_id: str) -> int:
    """The angle a sample id names: `plastic_deg036_500hz_04` -> 36 (a ValueError for a non-id)."""
    return SampleId.parse(sample_id).angle


def wav_glob(material: str, frequency: str) -> str:
    """The glob, relative to the data root, of a material's recordings at one frequency."""
    return f"deg*/{material}/{material}_deg*_{frequency}_*.wav"


def id_key(text: str) -> IdKey | None:
    """What two spellings of one sample id share (case and zero padding aside); None for a non-id."""
    loose = _LOOSE_RE.match(text.strip())
    if loose is None:
        return None
    return (loose["material"].lower(), int(loose["angle"]), loose["frequency"].lower(), int(loose["take"]))
