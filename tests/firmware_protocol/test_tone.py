"""The parameter table and the Tone value type."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_protocol.parameters import (
    APR_TONE_LENGTH,
    FIRST_PARAMETER_INDEX,
    MAX_VALUE,
    OS4_APR_TONE_LENGTH,
    OS4_TONE_PARAMETERS,
    TONE_PARAMETERS,
    lookup,
    lookup_os4,
)
from firmware_protocol.tone import INIT_TONE, Tone, ToneValueError


@pytest.mark.parametrize("bad", [-1, 128, 3.5, "7", True, None])
def test_invalid_values_name_parameter_value_and_range(bad):
    with pytest.raises(ToneValueError) as err:
        INIT_TONE.replace(vcf_res=bad)
    assert "VCF RES" in str(err.value)
    assert repr(bad) in str(err.value)
    assert "0..127" in str(err.value)


def test_switch_vector_rejects_positions_out_of_range():
    vector = INIT_TONE.to_vector()
    vector[[p.name for p in TONE_PARAMETERS].index("CHORUS")] = 3
    with pytest.raises(ToneValueError, match="CHORUS"):
        Tone.from_vector(vector)


def test_name_is_validated():
    with pytest.raises(ToneValueError, match="name"):
        Tone.from_values({}, name="ELEVEN CHARS")
    assert Tone.from_values({}, name="BRASS 1").name == "BRASS 1"


def test_stock_digit_names_decode():
    body = bytearray(INIT_TONE.data)
    body[:10] = b"PAD \x01\x02    "
    assert Tone(bytes(body)).name == "PAD 12"


raw_values = st.fixed_dictionaries({p.name: st.integers(0, 127) for p in TONE_PARAMETERS})


@given(raw_values)
def test_vector_round_trip_gives_canonical_bytes(values):
    tone = Tone.from_values(values)
    back = Tone.from_vector(tone.to_vector())
    assert back == tone.canonical()
    assert back.to_vector() == tone.to_vector()
    for p in TONE_PARAMETERS:
        if p.is_switch:
            assert back.value(p) == p.canonical(p.position(values[p.name]))
        else:
            assert back.value(p) == values[p.name]


@given(st.binary(min_size=APR_TONE_LENGTH, max_size=APR_TONE_LENGTH))
def test_any_dumped_body_is_kept_byte_exact_and_views_never_fail(body):
    tone = Tone.from_dump(body)
    assert tone.as_dumped == body
    assert tone.data[:FIRST_PARAMETER_INDEX] == body[:FIRST_PARAMETER_INDEX]
    assert list(tone.data[FIRST_PARAMETER_INDEX:]) == [
        min(b, MAX_VALUE) for b in body[FIRST_PARAMETER_INDEX:]
    ]
    vector = tone.to_vector()
    assert all(0.0 <= v <= max(p.ways - 1, 1) for v, p in zip(vector, TONE_PARAMETERS, strict=True))
    assert Tone.from_vector(vector) == Tone.from_vector(tone.canonical().to_vector())


def test_differing_lists_only_changed_parameters():
    other = INIT_TONE.replace(vcf_freq=10, lfo_rate=99)
    assert [p.name for p in other.differing(INIT_TONE)] == ["VCF FREQ", "LFO RATE"]
    assert len(tuple(other.differing(None))) == 44


def test_a_value_byte_above_127_is_refused_naming_the_parameter():
    body = bytearray(INIT_TONE.data)
    body[lookup("DCO1 ENV").apr_index] = 0x80
    with pytest.raises(ToneValueError, match=r"DCO1 ENV: value 128 is out of range; allowed 0"):
        Tone(bytes(body))
    body[lookup("DCO1 ENV").apr_index] = 0
    body[23] = 0x80  # unused in a tone, but a 7-bit value all the same
    with pytest.raises(ToneValueError, match=r"APR byte 23 \(unused\): value 128"):
        Tone(bytes(body))


def test_a_dumped_0x80_reads_as_127_and_writes_back_as_0x80():
    body = bytearray(INIT_TONE.data)
    body[lookup("DCO1 ENV").apr_index] = 0x80
    tone = Tone.from_dump(bytes(body))
    assert tone["DCO1 ENV"] == 127 and tone.as_dumped == bytes(body)
    assert tone == INIT_TONE.replace(dco1_env=127)  # the dump is no part of the sound
    assert tone.replace(vcf_freq=3).as_dumped == tone.replace(vcf_freq=3).data  # edited: no dump
    assert Tone.from_dump(INIT_TONE.data).dump is None


def test_a_tone_carries_an_os4_body_only_when_it_has_one():
    assert INIT_TONE.os4 is None and INIT_TONE.os4_values() == {}
    os4 = INIT_TONE.to_os4()
    assert os4.to_os4() is os4 and len(os4.os4 or b"") == OS4_APR_TONE_LENGTH
    assert os4.values() == INIT_TONE.values() and os4.stock_losses() == []
    assert lookup_os4("PWM1 WIDTH").board == (0x01, 0x82)
    assert lookup_os4("VCF FREQ").board is None
    with pytest.raises(ValueError, match="an OS4 tone body is 101 bytes, got 3"):
        Tone(INIT_TONE.data, b"abc")


def test_differing_os4_names_the_os4_parameters_that_changed():
    tone = INIT_TONE.replace(vcf_freq=10).replace_os4(pwm2_width=3)
    assert {p.name for p in tone.differing_os4(INIT_TONE)} == {"VCF FREQ", "PWM2 WIDTH"}
    assert tone.differing_os4(tone.to_os4()) == ()
    assert len(tone.differing_os4(None)) == len(OS4_TONE_PARAMETERS)
