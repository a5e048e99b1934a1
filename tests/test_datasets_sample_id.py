from pathlib import Path

import pytest

from datasets.sample_id import SampleId, angle_of, id_key, is_sample_id, wav_glob


def test_parse_and_format_round_trip_keeping_the_padding():
    for text in ("plastic_deg036_500hz_04", "wood_oak_deg180_3000hz_123", "plastic_deg000_1000hz_7"):
        assert str(SampleId.parse(text)) == text
    sid = SampleId.parse("wood_oak_deg180_3000hz_012")
    assert (sid.material, sid.angle, sid.frequency, sid.take, sid.seq) == ("wood_oak", 180, "3000hz", "012", 12)
    assert sid.tone_hz == 3000.0


def test_a_new_id_has_a_two_digit_take_and_its_wav_lives_in_the_angle_folder(tmp_path):
    sid = SampleId.of("plastic", 36, "500hz", 4)
    assert str(sid) == "plastic_deg036_500hz_04"
    assert sid.wav_path(tmp_path) == tmp_path / "deg036" / "plastic" / "plastic_deg036_500hz_04.wav"
    assert SampleId.of("plastic", 0, "500hz", 123).wav_path("root") == Path("root/deg000/plastic/plastic_deg000_500hz_123.wav")
    assert sid.wav_path(tmp_path).relative_to(tmp_path).match(wav_glob("plastic", "500hz"))


@pytest.mark.parametrize("text", ["plastic_deg36_500hz_04", "plastic_deg036_500Hz_04", "plastic_deg036_500hz",
                                  "deg036_500hz_04", "plastic_deg036_500hz_04.wav", ""])
def test_what_is_not_an_id_as_the_toolkit_writes_it(text):
    assert SampleId.match(text) is None and not is_sample_id(text)
    with pytest.raises(ValueError, match="not a sample id"):
        SampleId.parse(text)


def test_angle_of():
    assert angle_of("plastic_deg144_500hz_11") == 144
    with pytest.raises(ValueError, match="not a sample id: 'x'"):
        angle_of("x")


def test_id_key_ignores_case_padding_and_spaces_only():
    key = id_key("plastic_deg036_500hz_04")
    assert key == ("plastic", 36, "500hz", 4)
    assert id_key(" PLASTIC_deg36_500Hz_4 ") == key
    assert id_key("plastic_deg072_500hz_04") != key
    assert id_key("not an id") is None
