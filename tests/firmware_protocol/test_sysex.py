"""Roland SysEx codec, the .syx reader/writer, the Patch type and ``jxdaq syx show``.

Expected bytes come from PROTOCOL.md section 3 (the documented layouts) and from the real
dumps in ../shared/data, never from this codec's own output.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_protocol import os4
from firmware_protocol.parameters import (
    APR_TONE_LENGTH,
    FIRST_PARAMETER_INDEX,
    OS4_APR_TONE_LENGTH,
    OS4_BULK_TONE_LENGTH,
    OS4_PATCH_BULK_LENGTH,
    PATCH_APR_LENGTH,
    PATCH_BULK_LENGTH,
    PATCH_PARAMETERS,
    lookup,
    lookup_patch,
)
from firmware_protocol.patch import Patch, PatchLayout
from firmware_protocol.sysex import (
    IPR,
    PGR,
    Device,
    EditBuffer,
    EditBufferRequest,
    Firmware,
    Level,
    Os4PatchBLD,
    Os4ToneBLD,
    PatchAPR,
    PatchBLD,
    SysExError,
    ToneAPR,
    ToneBLD,
    TruncatedSysExError,
    decode_message,
    denibble,
    iter_bank,
    jx8p_bank,
    nibbles,
    parse_syx,
    read_syx,
    write_syx,
)
from firmware_protocol.tone import INIT_TONE, Tone

# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def os4_dump(shared_data: Path) -> Path:
    return shared_data / "mks70" / "mks70-bulk-dump-vecoven-os4.syx"


@pytest.fixture(scope="session")
def real_files(jx8p_banks: list[Path], stock_dump: Path, os4_dump: Path) -> list[bytes]:
    return [p.read_bytes() for p in [*jx8p_banks, stock_dump, os4_dump]]


# -- real dumps -----------------------------------------------------------------------------


def test_every_jx8p_bank_reads_32_placed_tones_and_writes_back_identically(jx8p_banks):
    for path in jx8p_banks:
        parsed = read_syx(path)
        assert len(parsed.tones) == 32 and not parsed.patches, path.name
        assert [e.position for e in parsed.entries] == list(range(32)), path.name
        assert all(e.device is Device.JX8P for e in parsed.entries)
        assert parsed.to_bytes() == path.read_bytes(), path.name


def test_real_jx8p_apr_bodies_keep_their_0x80_bytes(jx8p_banks):
    # The spec's "68 bytes per tone" layout: APR (67) + PGR (11) x 32, bodies at offset 7.
    raw = b"".join(p.read_bytes() for p in jx8p_banks)
    bodies = [raw[i + 7 : i + 7 + APR_TONE_LENGTH] for i in range(0, len(raw), 78)]
    assert any(0x80 in body for body in bodies)  # the real data does hold them
    tones = [e.item for e in iter_bank(*jx8p_banks)]
    assert [t.as_dumped for t in tones] == bodies
    # ... and read as the value the board can be sent (Tone.from_dump)
    assert [t.data for t in tones] == [Tone.from_dump(body).data for body in bodies]
    assert all(b <= 0x7F for t in tones for b in t.data[FIRST_PARAMETER_INDEX:])


def test_the_poison_tone_backward_reads_dco1_env_127_and_round_trips(jx8p_banks):
    path = next(p for p in jx8p_banks if p.name == "jx8p-3.rom.syx")
    parsed = read_syx(path)
    backward = parsed.tones[4].item
    assert backward.name == "BACKWARD" and backward["DCO1 ENV"] == 127
    assert backward.as_dumped[lookup("DCO1 ENV").apr_index] == 0x80
    assert parsed.to_bytes() == path.read_bytes()


def test_factory_bank_names_are_the_ascii_in_the_file(jx8p_banks):
    factory = next(p for p in jx8p_banks if p.name.startswith("factory"))
    names = [e.name for e in read_syx(factory).entries]
    assert names[:3] == [" PIANO 1", " PIANO 2", " PIANO 3"]


def test_jx8p_bank_builder_rebuilds_a_real_bank(jx8p_banks):
    for path in jx8p_banks:
        tones = [e.item for e in read_syx(path).entries]
        assert jx8p_bank(tones) == path.read_bytes(), path.name


def test_stock_mks70_dump_reads_50_tones_and_64_patches_and_writes_back(stock_dump):
    parsed = read_syx(stock_dump)
    assert [e.position for e in parsed.tones] == list(range(50))
    assert [e.position for e in parsed.patches] == list(range(64))
    assert parsed.to_bytes() == stock_dump.read_bytes()
    assert parsed.patches[0].name.startswith("  HEAVEN")
    assert all(len(e.name) <= 18 for e in parsed.patches)


def test_vecoven_os4_dump_reads_64_patches_and_50_tones_and_writes_back(os4_dump):
    # Hexdump: 64 x (F0 41 3A 00 24 30 01 00 pp <56> F7) then 50 x (... 24 20 01 00 tt <78> F7).
    raw = os4_dump.read_bytes()
    assert raw[:9] == bytes.fromhex("F0 41 3A 00 24 30 01 00 00") and raw[65] == 0xF7
    parsed = read_syx(os4_dump)
    assert [e.position for e in parsed.patches] == list(range(64))
    assert [e.position for e in parsed.tones] == list(range(50))
    assert all(isinstance(m, Os4ToneBLD | Os4PatchBLD) for _, m in parsed.messages)
    assert parsed.to_bytes() == raw
    # The packed patch names read whole across their 7-byte groups.
    assert parsed.patches[0].name == "SYNTH BASS / PAD"
    assert parsed.tones[0].name == "SYNTH BSS1" and parsed.tones[1].name == "HORNS 2"
    for entry in parsed.patches:
        assert entry.item.layout is PatchLayout.OS4_BULK
        assert entry.item.value("UPPER HOLD") in (0, 1)


def test_os4_dump_tones_carry_their_os4_body_and_a_stock_view(os4_dump):
    tone = read_syx(os4_dump).tones[0].item
    assert tone.os4 is not None and len(tone.os4) == OS4_APR_TONE_LENGTH
    values = tone.os4_values()
    assert values["PWM1 WIDTH"] == 64 and values["ENV2 ATTACK LEVEL"] == 127
    # the stock view is the same setting, at the stock parameter's place
    assert tone["VCF FREQ"] == values["VCF FREQ"] == tone.os4[27]
    assert tone.labels()["LFO WF"] in ("random", "triangle")


def test_os4_patch_bld_packs_seven_bytes_and_their_top_bits():
    data = bytes([0x81, 2, 3, 4, 5, 6, 0x87]) + bytes(OS4_PATCH_BULK_LENGTH - 7)
    wire = os4.pack_patch(data)
    assert wire[:8] == bytes([1, 2, 3, 4, 5, 6, 7, 0b1000001]) and len(wire) == 56
    assert os4.unpack_patch(wire) == data


def test_iter_bank_reads_many_sources_in_order(jx8p_banks, stock_dump):
    entries = list(iter_bank(*jx8p_banks, stock_dump.read_bytes()))
    assert len(entries) == 13 * 32 + 50 + 64
    assert entries[0].source == str(jx8p_banks[0])
    assert entries[-1].source is None and entries[-1].kind == "tone"  # patches come first


# -- documented message layouts ------------------------------------------------------------


def _tone(fill: int = 0x20) -> Tone:
    return Tone(bytes([fill]) * APR_TONE_LENGTH)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (PGR(Device.JX8P, 3, Level.TONE, 1, 17, 2), "F0 41 34 03 21 20 01 00 11 02 F7"),
        (PGR(Device.MKS70, 15, Level.PATCH, 1, 63, 0), "F0 41 34 0F 24 30 01 3F 00 F7"),
        (PGR(Device.MKS70, 0, Level.TONE, 2, 49, 0), "F0 41 34 00 24 20 02 31 00 F7"),
        (IPR(Device.JX8P, 1, Level.TONE, 1, 34, 100), "F0 41 36 01 21 20 01 22 64 F7"),
        (IPR(Device.MKS70, 0, Level.PATCH, 1, 0x12, 0x4D), "F0 41 36 00 24 30 01 12 4D F7"),
        # The M4L_MKS-70 device's own examples of OS4 IPR and the edit-buffer request.
        (
            IPR(Device.MKS70, 0, Level.TONE, 1, 0x0D, 0x71, Firmware.OS4),
            "F0 41 39 00 24 20 01 0D 71 F7",
        ),
        (
            IPR(Device.MKS70, 0, Level.PATCH, 1, 0x13, 0x4F, Firmware.OS4),
            "F0 41 39 00 24 30 01 13 4F F7",
        ),
        (EditBufferRequest(0), "F0 41 3D 00 24 02 01 07 F7"),
    ],
)
def test_short_messages_match_the_documented_bytes(message, expected):
    wire = bytes.fromhex(expected)
    assert message.encode() == wire
    assert decode_message(wire) == (message, len(wire))


def test_long_messages_have_the_documented_headers_and_lengths():
    tone, apr_patch = _tone(), Patch(bytes(PATCH_APR_LENGTH), PatchLayout.APR)
    bulk_patch = Patch(bytes(range(PATCH_BULK_LENGTH)), PatchLayout.BULK)
    cases = [
        (ToneAPR(Device.MKS70, 2, 2, tone), "F0 41 35 02 24 20 02", 67),
        (PatchAPR(4, apr_patch), "F0 41 35 04 24 30 01", 61),
        (ToneBLD(0, 1, 7, tone), "F0 41 37 00 24 20 01 00 07", 69),
        (PatchBLD(0, 2, 63, bulk_patch), "F0 41 37 00 24 30 02 00 3F", 106),
        (ToneAPR(Device.MKS70, 0, 1, tone.to_os4(), Firmware.OS4), "F0 41 38 00 24 20 01", 109),
        (PatchAPR(0, apr_patch, Firmware.OS4), "F0 41 38 00 24 30 01", 61),
        (Os4ToneBLD.of(0, 1, 3, tone), "F0 41 3A 00 24 20 01 00 03", 88),
        (
            Os4PatchBLD(0, 1, 5, Patch(bytes(OS4_PATCH_BULK_LENGTH), PatchLayout.OS4_BULK)),
            "F0 41 3A 00 24 30 01 00 05",
            66,
        ),
    ]
    for message, header, length in cases:
        wire = message.encode()
        assert wire.startswith(bytes.fromhex(header)) and len(wire) == length and wire[-1] == 0xF7


def test_patch_bld_sends_each_byte_as_two_nibbles_high_first():
    assert nibbles(b"\xab\x01") == b"\x0a\x0b\x00\x01"
    assert denibble(b"\x0a\x0b\x00\x01") == b"\xab\x01"
    patch = Patch(bytes([0x4F]) + bytes(PATCH_BULK_LENGTH - 1), PatchLayout.BULK)
    assert PatchBLD(0, 1, 0, patch).encode()[9:11] == b"\x04\x0f"


@pytest.mark.parametrize(
    "make",
    [
        lambda: PGR(Device.JX8P, 16, Level.TONE, 1, 0, 2),
        lambda: IPR(Device.MKS70, 0, Level.TONE, 3, 0, 0),
        lambda: IPR(Device.MKS70, 0, Level.TONE, 1, 0, 128),
        lambda: IPR(Device.JX8P, 0, Level.PATCH, 1, 0, 0),
        lambda: ToneAPR(Device.JX8P, 0, 1, Tone.from_dump(bytes([0xF7]) * APR_TONE_LENGTH)),
        lambda: PatchAPR(0, Patch(bytes(PATCH_BULK_LENGTH), PatchLayout.BULK)),
        lambda: Patch(bytes(10), PatchLayout.APR),
        lambda: ToneAPR(Device.MKS70, 0, 1, _tone(), Firmware.OS4),  # a stock tone
        lambda: IPR(Device.JX8P, 0, Level.TONE, 1, 0, 0, Firmware.OS4),
        lambda: Os4ToneBLD(0, 1, 0, bytes([0x80]) + bytes(OS4_BULK_TONE_LENGTH - 1)),
        lambda: Os4PatchBLD(0, 1, 0, Patch(bytes(PATCH_BULK_LENGTH), PatchLayout.BULK)),
    ],
)
def test_encoders_refuse_values_they_could_not_send(make):
    with pytest.raises(ValueError):
        make()


# -- bad input ------------------------------------------------------------------------------


def test_truncation_names_offset_type_and_expectation(jx8p_banks):
    data = jx8p_banks[0].read_bytes()
    with pytest.raises(TruncatedSysExError) as caught:
        parse_syx(data[:100], "bank.syx")
    error = caught.value
    assert error.offset == 100 and "tone APR" in error.message_type
    assert "bank.syx" in str(error) and "59 tone data bytes" in str(error)


def test_a_message_cut_short_by_the_next_one_is_reported_there(jx8p_banks):
    data = jx8p_banks[0].read_bytes()
    garbled = data[:40] + data[67:]  # APR loses its tail; its PGR starts too early
    with pytest.raises(TruncatedSysExError, match="got 0xF0") as caught:
        parse_syx(garbled)
    assert caught.value.offset == 40  # where the PGR's F0 sits in place of tone data


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"RIFF\x00\x00\x00\x00WAVE", "F0"),
        (bytes.fromhex("F0 43 10 01 02 03 F7"), "Roland ID"),
        (bytes.fromhex("F0 41 12 00 24 20 01 00 00 F7"), "operation code"),
        (bytes.fromhex("F0 41 35 00 16 20 01"), "device"),
        (bytes.fromhex("F0 41 37 00 21 20 01 00 00"), "JX-8P message type"),
        (bytes.fromhex("F0 41 38 00 21 20 01 00 00"), "JX-8P message type"),
        (bytes.fromhex("F0 41 3D 00 24 02 01 08 F7"), "edit-buffer request: expected 07"),
        (b"", "at least one SysEx message"),
    ],
)
def test_foreign_data_is_refused_with_a_clear_error(data, expected):
    with pytest.raises(SysExError, match=expected):
        parse_syx(data)


def _parses_whole_or_refuses(data: bytes) -> None:
    try:
        parsed = parse_syx(data)
    except SysExError as error:
        assert 0 <= error.offset <= len(data)
        return
    assert parsed.to_bytes() == data


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_decode_fully_or_raise_sysex_error(data):
    _parses_whole_or_refuses(data)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.data(),
    st.integers(0, 14),
    st.lists(st.tuples(st.integers(0, 10_233), st.integers(0, 255)), max_size=4),
)
def test_corrupted_and_truncated_real_files_decode_fully_or_raise(real_files, data, which, changes):
    original = real_files[which]
    mutated = bytearray(original)
    for index, value in changes:
        if index < len(mutated):
            mutated[index] = value
    cut = data.draw(st.integers(0, len(mutated)))
    _parses_whole_or_refuses(bytes(mutated[:cut]))


# -- property round trips -------------------------------------------------------------------

tone_bodies = st.binary(min_size=APR_TONE_LENGTH, max_size=APR_TONE_LENGTH).map(
    lambda b: Tone.from_dump(bytes(x % 0xF0 for x in b))
)
channels = st.integers(0, 15)
groups = st.sampled_from([1, 2])


os4_bodies = st.binary(min_size=OS4_APR_TONE_LENGTH, max_size=OS4_APR_TONE_LENGTH).map(
    lambda b: Tone.from_os4(bytes(x % 0xF0 for x in b))
)
_STOCK_KINDS = ("tone_apr", "patch_apr", "tone_bld", "patch_bld", "ipr", "pgr")
_OS4_KINDS = ("os4_tone_apr", "os4_patch_apr", "os4_tone_bld", "os4_patch_bld", "os4_ipr", "req")


@st.composite
def _os4_message(draw, kind, channel):
    """Every OS4 message kind, with any body the encoder accepts."""
    number = draw(st.integers(0, 127))
    if kind == "os4_tone_apr":
        return ToneAPR(Device.MKS70, channel, draw(groups), draw(os4_bodies), Firmware.OS4)
    if kind == "os4_patch_apr":
        body = draw(st.binary(min_size=PATCH_APR_LENGTH, max_size=PATCH_APR_LENGTH))
        patch = Patch(bytes(x % 0xF0 for x in body), PatchLayout.APR)
        return PatchAPR(channel, patch, Firmware.OS4)
    if kind == "os4_tone_bld":
        body = draw(st.binary(min_size=OS4_BULK_TONE_LENGTH, max_size=OS4_BULK_TONE_LENGTH))
        return Os4ToneBLD(channel, draw(groups), number, bytes(x & 0x7F for x in body))
    if kind == "os4_patch_bld":
        body = draw(st.binary(min_size=OS4_PATCH_BULK_LENGTH, max_size=OS4_PATCH_BULK_LENGTH))
        return Os4PatchBLD(channel, draw(groups), number, Patch(body, PatchLayout.OS4_BULK))
    if kind == "os4_ipr":
        level = draw(st.sampled_from(list(Level)))
        value = draw(st.integers(0, 127))
        return IPR(Device.MKS70, channel, level, draw(groups), number, value, Firmware.OS4)
    return EditBufferRequest(channel)


@st.composite
def messages(draw):
    kind = draw(st.sampled_from([*_STOCK_KINDS, *_OS4_KINDS]))
    channel = draw(channels)
    device = draw(st.sampled_from(list(Device)))
    if kind in _OS4_KINDS:
        return draw(_os4_message(kind, channel))
    if kind == "tone_apr":
        return ToneAPR(device, channel, draw(groups), draw(tone_bodies))
    if kind == "patch_apr":
        body = draw(st.binary(min_size=PATCH_APR_LENGTH, max_size=PATCH_APR_LENGTH))
        return PatchAPR(channel, Patch(bytes(x % 0xF0 for x in body), PatchLayout.APR))
    number = draw(st.integers(0, 127))
    if kind == "tone_bld":
        return ToneBLD(channel, draw(groups), number, draw(tone_bodies))
    if kind == "patch_bld":
        body = draw(st.binary(min_size=PATCH_BULK_LENGTH, max_size=PATCH_BULK_LENGTH))
        return PatchBLD(channel, draw(groups), number, Patch(body, PatchLayout.BULK))
    level = Level.TONE if device is Device.JX8P else draw(st.sampled_from(list(Level)))
    if kind == "ipr":
        return IPR(device, channel, level, draw(groups), number, draw(st.integers(0, 127)))
    return PGR(device, channel, level, draw(groups), number, draw(st.integers(0, 127)))


@settings(max_examples=500, deadline=None)
@given(st.lists(messages(), min_size=1, max_size=8))
def test_any_message_sequence_round_trips(sequence):
    wire = b"".join(m.encode() for m in sequence)
    parsed = parse_syx(wire)
    assert [m for _, m in parsed.messages] == sequence
    assert parsed.to_bytes() == wire


@settings(max_examples=500, deadline=None)
@given(st.lists(messages(), min_size=1, max_size=4), st.data())
def test_any_message_sequence_cut_or_bit_flipped_decodes_fully_or_raises(sequence, data):
    # Every kind, OS4 ones included: one clear SysExError at an offset inside the data.
    wire = bytearray(b"".join(m.encode() for m in sequence))
    at = data.draw(st.integers(0, len(wire) - 1))
    wire[at] ^= 1 << data.draw(st.integers(0, 7))
    cut = data.draw(st.integers(0, len(wire)))
    _parses_whole_or_refuses(bytes(wire[:cut]))


@settings(max_examples=200, deadline=None)
@given(st.lists(tone_bodies, min_size=1, max_size=40), channels)
def test_jx8p_banks_of_random_tones_read_back_in_place(tones, channel):
    parsed = parse_syx(jx8p_bank(tones, channel))
    assert [e.item for e in parsed.entries] == tones
    assert [e.position for e in parsed.entries] == list(range(len(tones)))
    assert {e.channel for e in parsed.entries} == {channel}


def test_mks70_pgr_places_the_apr_after_it():
    patch = Patch(bytes(PATCH_APR_LENGTH), PatchLayout.APR)
    wire = PGR(Device.MKS70, 0, Level.PATCH, 1, 9, 0).encode() + PatchAPR(0, patch).encode()
    (entry,) = parse_syx(wire).entries
    assert entry.position == 9 and entry.kind == "patch"
    assert parse_syx(PatchAPR(0, patch).encode()).entries[0].position is None


# -- the patch parameter table --------------------------------------------------------------


@pytest.mark.parametrize(
    ("layout", "length"), [("apr", PATCH_APR_LENGTH), ("bulk", PATCH_BULK_LENGTH)]
)
def test_patch_parameters_never_share_a_bit_and_stay_inside_the_body(layout, length):
    used: set[tuple[int, int]] = set()
    for parameter in PATCH_PARAMETERS:
        for field in getattr(parameter, layout):
            assert 18 <= field.index < length, parameter.name  # 0..17 is the name
            bits = {(field.index, field.shift + b) for b in range(field.width)}
            assert all(bit < 8 for _, bit in bits)
            assert not bits & used, parameter.name
            used |= bits


def test_patch_apr_values_follow_the_ipr_parameter_numbers():
    body = bytearray(PATCH_APR_LENGTH)
    body[:18] = b"  HEAVEN BRASS    "
    body[0x1D], body[0x26], body[0x17], body[0x34] = 29, 57, 0x60, 0x01
    patch = Patch(bytes(body), PatchLayout.APR)
    assert patch.name == "  HEAVEN BRASS"
    assert (patch.upper_tone, patch.lower_tone) == (29, 57)
    assert patch.labels()["BEND RANGE"] == "12"
    assert lookup_patch("bend_range").label(3) == "7"
    assert "KEY MODE" not in patch.values()  # unknown in the APR layout


def test_the_os4_edit_buffer_reply_decodes_to_the_patch_and_its_two_placed_tones():
    # The reply the M4L_MKS-70 wiki documents: PGR + APR for the patch, then each tone.
    patch = Patch(bytes(PATCH_APR_LENGTH), PatchLayout.APR)
    upper, lower = Tone.from_os4(bytes(OS4_APR_TONE_LENGTH)), _tone().to_os4()
    reply = [
        PGR(Device.MKS70, 0, Level.PATCH, 1, 0, 0),
        PatchAPR(0, patch, Firmware.OS4),
        PGR(Device.MKS70, 0, Level.TONE, 1, 0x52, 0),
        ToneAPR(Device.MKS70, 0, 1, upper, Firmware.OS4),
        PGR(Device.MKS70, 0, Level.TONE, 2, 0x26, 0),
        ToneAPR(Device.MKS70, 0, 2, lower, Firmware.OS4),
    ]
    assert reply[2].encode() == bytes.fromhex("F0 41 34 00 24 20 01 52 00 F7")  # the wiki's
    parsed = parse_syx(EditBufferRequest(0).encode() + write_syx(reply))
    assert [(e.kind, e.position, e.group) for e in parsed.entries] == [
        ("patch", 0, 1),
        ("tone", 0x52, 1),
        ("tone", 0x26, 2),
    ]
    assert parsed.tones[1].item == lower and parsed.tones[1].firmware is Firmware.OS4


def _edit_buffer(channel: int, upper: Tone, lower: Tone, numbers=(0x52, 0x26)) -> EditBuffer:
    return EditBuffer(channel, 3, Patch(bytes(PATCH_APR_LENGTH), PatchLayout.APR), numbers,
                      (upper, lower))  # fmt: skip


def test_an_edit_buffer_answer_is_the_wikis_six_messages_and_reads_back_its_tones():
    upper, lower = _tone().to_os4(), _tone(0x40).to_os4()
    wire = _edit_buffer(0, upper, lower).encode()
    kinds = [type(m).__name__ for _, m in parse_syx(wire).messages]
    assert kinds == ["PGR", "PatchAPR", "PGR", "ToneAPR", "PGR", "ToneAPR"]
    assert bytes.fromhex("F0 41 34 00 24 20 01 52 00 F7") in wire  # the wiki's tone A PGR
    answer = EditBuffer.decode(wire)
    assert answer.tone(1) == upper and answer.tone(2) == lower
    assert answer.tone_numbers == (0x52, 0x26) and answer.patch_number == 3


def test_an_edit_buffer_answer_gives_a_stock_tone_as_os4():
    answer = EditBuffer.decode(_edit_buffer(5, INIT_TONE, INIT_TONE).encode())
    assert answer.tone(1).os4 is not None and not tuple(answer.tone(1).differing(INIT_TONE))


@pytest.mark.parametrize(
    ("cut", "expected"),
    [
        (lambda w: b"", "message 1 of 6 (a patch PGR), got end of data"),
        (lambda w: w[: w.rindex(0xF0)], "message 6 of 6 (an OS4 tone B APR), got end of"),
        (lambda w: w[10:], "message 1 to be a patch PGR"),
        (lambda w: w + EditBufferRequest(0).encode(), "end of data after 6 messages"),
    ],
)
def test_a_wrong_edit_buffer_answer_names_the_message_out_of_place(cut, expected):
    wire = _edit_buffer(0, _tone().to_os4(), _tone().to_os4()).encode()
    with pytest.raises(SysExError, match="edit-buffer reply") as caught:
        EditBuffer.decode(cut(wire))
    assert expected in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(channels, os4_bodies, os4_bodies, st.tuples(st.integers(0, 127), st.integers(0, 127)))
def test_any_edit_buffer_answer_round_trips(channel, upper, lower, numbers):
    answer = _edit_buffer(channel, upper, lower, numbers)
    assert EditBuffer.decode(answer.encode()) == answer


@settings(max_examples=500, deadline=None)
@given(channels, os4_bodies, os4_bodies, st.data())
def test_an_edit_buffer_answer_cut_or_bit_flipped_decodes_or_raises_sysex_error(
    channel, upper, lower, data
):
    wire = bytearray(_edit_buffer(channel, upper, lower).encode())
    at = data.draw(st.integers(0, len(wire) - 1))
    wire[at] ^= 1 << data.draw(st.integers(0, 7))
    cut = bytes(wire[: data.draw(st.integers(0, len(wire)))])
    try:
        answer = EditBuffer.decode(cut)
    except SysExError as error:
        assert 0 <= error.offset <= len(cut)
        return
    assert answer.encode() == cut  # a flip that still reads as a reply writes back as read
