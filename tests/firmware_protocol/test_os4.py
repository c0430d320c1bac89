"""Vecoven OS4 tones: the parameter table, the BLD packing, conversion to and from stock.

Expected facts come from the sources named in parameters.py (the M4L_MKS-70 device's IPR
numbers and examples, KnobKraft's body layouts) and from the real OS4 dump, never from
this code's own output.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_protocol import os4
from firmware_protocol.parameters import (
    BY_NAME,
    OS4_ADDED,
    OS4_APR_TONE_LENGTH,
    OS4_BULK_TONE_LENGTH,
    OS4_BY_IPR,
    OS4_TONE_PARAMETERS,
    OS4_UNUSED_INDEXES,
    TONE_PARAMETERS,
    lookup_os4,
)
from firmware_protocol.sysex import (
    Firmware,
    Os4ToneBLD,
    SysExError,
    TruncatedSysExError,
    parse_syx,
    read_syx,
)
from firmware_protocol.tone import INIT_TONE, Tone


@pytest.fixture(scope="module")
def os4_tones(shared_data) -> list[Tone]:
    dump = read_syx(shared_data / "mks70" / "mks70-bulk-dump-vecoven-os4.syx")
    return [entry.item for entry in dump.tones]


# -- the table ------------------------------------------------------------------------------


def test_the_table_has_ipr_11_to_94_and_every_apr_byte_once():
    assert [p.ipr for p in OS4_TONE_PARAMETERS] == list(range(11, 95))
    indexes = sorted([p.apr_index for p in OS4_TONE_PARAMETERS] + list(OS4_UNUSED_INDEXES))
    assert indexes == list(range(10, OS4_APR_TONE_LENGTH))  # 0..9 is the name


def test_bld_fields_never_share_a_bit_and_hold_every_switch_position():
    used: set[tuple[int, int]] = set()
    for p in OS4_TONE_PARAMETERS:
        width = sum(f.width for f in p.bulk)
        assert (1 << width) >= max(p.ways, 128 if not p.is_switch else 0), p.name
        for f in p.bulk:
            assert 11 <= f.index < OS4_BULK_TONE_LENGTH - 1 and f.shift + f.width <= 7, p.name
            bits = {(f.index, f.shift + b) for b in range(f.width)}
            assert not bits & used, p.name
            used |= bits


def test_every_stock_parameter_has_an_os4_home_and_the_added_ones_none():
    homes = {p.stock for p in OS4_TONE_PARAMETERS if p.stock}
    assert homes == {p.name for p in TONE_PARAMETERS}
    assert all(p.stock is None for p in OS4_ADDED) and len(OS4_ADDED) == 38


def test_ipr_numbers_follow_the_m4l_device():
    # "F0 41 39 0 24 20 1 0D 71 F7" is its DCO1 tune example; 31 is its PWM DCO1 width.
    assert OS4_BY_IPR[0x0D].name == "DCO1 TUNE" and OS4_BY_IPR[31].name == "PWM1 WIDTH"
    assert OS4_BY_IPR[94].name == "ENV4 KEY" and OS4_BY_IPR[59].labels[-1] == "SINE"
    assert lookup_os4("pwm1_width") is OS4_BY_IPR[31]
    with pytest.raises(KeyError, match="unknown OS4 tone parameter"):
        lookup_os4("PWM3 WIDTH")


# -- the real dump --------------------------------------------------------------------------


def test_dump_tones_are_what_os4_makes_of_stock_tones(os4_tones):
    for tone in os4_tones:
        values = tone.os4_values()
        assert [values[f"ENV2 {s}"] for s in ("ATTACK LEVEL", "SLOPE LEVEL", "SUSTAIN")] == [
            127
        ] * 3
        assert tone.os4_values()["VCA MODE"] == 96  # ENV4, the stock ENV2
        for name in ("DCO1 ENV MODE", "MIX MODE", "VCF MODE"):
            assert lookup_os4(name).label(values[name]).startswith(("ENV3", "ENV4")), name


def test_dump_tones_convert_to_stock_losing_only_the_pulse_widths_they_change(os4_tones):
    lost = {tone.name: tone.stock_losses() for tone in os4_tones}
    lossy = {name: lines for name, lines in lost.items() if lines}
    assert len(lossy) == 5
    assert all(len(lines) == 1 and "WIDTH: 0" in lines[0] for lines in lossy.values())
    # each of them plays that DCO as a pulse: the width is a real setting, not noise
    for tone in os4_tones:
        if tone.name in lossy:
            dco = lossy[tone.name][0][3]
            assert tone.labels()[f"DCO{dco} WF"] == "pulse"


def test_bld_bodies_unpack_to_apr_bodies_that_pack_back(os4_tones, shared_data):
    raw = (shared_data / "mks70" / "mks70-bulk-dump-vecoven-os4.syx").read_bytes()
    for offset, message in parse_syx(raw).messages:
        if isinstance(message, Os4ToneBLD):
            again = os4.bulk_from_apr(os4.apr_from_bulk(message.body))
            # all but the bits no parameter uses (byte 72 bit 2) and the last byte
            mask = [0x7F] * OS4_BULK_TONE_LENGTH
            mask[72], mask[77] = 0x7B, 0x00
            assert [a & m for a, m in zip(again, mask, strict=True)] == [
                b & m for b, m in zip(message.body, mask, strict=True)
            ], offset


# -- conversion properties ------------------------------------------------------------------


def _canonical_stock(raw: bytes) -> Tone:
    """A stock tone with switches on their grid and the unknown bytes zero."""
    body = bytearray(b & 0x7F for b in raw)
    for i in (23, 24, 25, 57):
        body[i] = 0
    return Tone(bytes(body)).canonical()


stock_tones = st.binary(min_size=59, max_size=59).map(_canonical_stock)


@settings(max_examples=300, deadline=None)
@given(stock_tones)
def test_stock_to_os4_and_back_is_lossless(tone):
    body, lost = os4.from_stock(tone.data)
    assert lost == []
    back, lost = os4.to_stock(body)
    assert back == tone.data and lost == []


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=OS4_APR_TONE_LENGTH, max_size=OS4_APR_TONE_LENGTH))
def test_any_os4_body_converts_without_error_and_names_each_loss_once(raw):
    body = bytes(b & 0x7F for b in raw)
    stock, lost = os4.to_stock(body)
    assert len(stock) == 59 and all(b < 0x80 for b in stock)
    named = [line.split(":")[0] for line in lost]
    assert len(named) == len(set(named))
    again = os4.apr_from_bulk(os4.bulk_from_apr(body))
    assert all(
        again[p.apr_index] == body[p.apr_index] for p in OS4_TONE_PARAMETERS if not p.is_switch
    )


def test_losses_name_the_parameter_and_the_stock_setting_used():
    tone = INIT_TONE.replace_os4(vcf_mode=16, dco2_dyna=64, lfo1_wf=32)  # ENV1 +, 2, SAW -
    lines = tone.stock_losses()
    assert "VCF MODE: ENV1 + has no stock equivalent; VCF MODE ENV1" in lines
    assert any(
        "DCO2 DYNA: 2 differs from DCO1 DYNA off; stock has one DCO DYNA" in x for x in lines
    )
    assert any(
        x.startswith("LFO1 WF: SAW - has no stock equivalent; LFO WF triangle") for x in lines
    )


def test_stock_changes_write_through_to_an_os4_tone():
    tone = INIT_TONE.replace_os4(pwm2_width=3)
    changed = tone.replace(dco_dyna=64, env1_attack=9)
    values = changed.os4_values()
    assert values["DCO1 DYNA"] == values["DCO2 DYNA"] == 64
    assert values["ENV3 ATTACK"] == 9 and values["PWM2 WIDTH"] == 3
    assert changed["ENV1 ATTACK"] == 9
    with pytest.raises(ValueError, match="PWM1 WIDTH: value 128 is out of range"):
        tone.replace_os4(pwm1_width=128)
    assert BY_NAME["VCA MODE"].label(INIT_TONE.to_os4()["VCA MODE"]) == "ENV2"


# -- bad input ------------------------------------------------------------------------------


def test_a_truncated_os4_tone_bld_names_offset_type_and_expectation(shared_data):
    raw = (shared_data / "mks70" / "mks70-bulk-dump-vecoven-os4.syx").read_bytes()
    start = 64 * 66  # the first tone BLD
    with pytest.raises(TruncatedSysExError) as caught:
        parse_syx(raw[: start + 50], "os4.syx")
    error = caught.value
    assert error.offset == start + 50 and error.message_type.endswith("Vecoven OS4 tone BLD")
    assert "78 tone data bytes 0x00..0x7F" in str(error) and "os4.syx" in str(error)


def test_a_flipped_top_bit_inside_an_os4_body_is_named_where_it_is(shared_data):
    raw = bytearray((shared_data / "mks70" / "mks70-bulk-dump-vecoven-os4.syx").read_bytes())
    raw[20] |= 0x80  # inside the first patch BLD's packed body
    with pytest.raises(SysExError, match=r"byte 20: JX-10/MKS-70 Vecoven OS4 patch BLD") as caught:
        parse_syx(bytes(raw))
    assert not isinstance(caught.value, TruncatedSysExError)
    assert Firmware.OS4.name == "OS4"
