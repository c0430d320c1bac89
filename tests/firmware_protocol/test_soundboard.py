"""The voice-board codec: encoder, streaming parser (8031 rules), replay into tones."""

from __future__ import annotations

from itertools import accumulate, pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_protocol.parameters import (
    APR_TONE_LENGTH,
    NAME_LENGTH,
    OS4_ADDED,
    OS4_BOARD_PAGE,
    TONE_PARAMETERS,
    UNUSED_TONE_INDEXES,
    BoardControl,
    ToneParameter,
    apr_index_of,
    lookup,
    lookup_os4,
)
from firmware_protocol.soundboard import (
    DATA_LENGTHS,
    Board,
    Control,
    Dropped,
    LoadStyle,
    NoteOff,
    NoteOn,
    Os4ParameterChange,
    ParameterChange,
    Select,
    SoundboardParser,
    Unknown,
    decode_tones,
    encode_all_notes_off,
    encode_bend,
    encode_hold,
    encode_init,
    encode_modulation,
    encode_note_off,
    encode_note_on,
    encode_os4_parameter,
    encode_select,
    encode_tone,
    encode_tones,
    parse,
    replay,
)
from firmware_protocol.sysex import read_syx
from firmware_protocol.tone import INIT_TONE, Tone

AE_INDEX = 57  # APR 57, board code 0xAE: unknown, kept in the tone body

# -- an independent model of the wire, for the property tests -------------------------------

SELECT_OF = {0xF1: Board.LOWER, 0xF9: Board.UPPER, 0xF4: Board.BOTH}


def _event(status: int, rest: list[int]):
    if status < 0xB0:
        return ParameterChange(status, rest[0])
    if status < 0xC0:
        return Control(status, rest[0])
    if status < 0xD0:
        return NoteOn(status & 0x0F, *rest)
    if status < 0xE0:
        return NoteOff(status & 0x0F, *rest)
    if status in SELECT_OF:
        return Select(SELECT_OF[status])
    return Unknown(status, bytes(rest))


def reference_parse(data: bytes) -> tuple[list, int, int]:
    """Byte-at-a-time 8031 rules: the slow, obvious parser the fast one must agree with.

    OS4 page prefix (this project's choice): ``FD pp`` makes the next parameter command
    ``cc vv`` an Os4ParameterChange; any other command, complete or cut short, drops it.
    """
    events: list = []
    dropped = stray = 0
    command: list[int] | None = None
    prefix: int | None = None
    for byte in data:
        if byte >= 0x80:
            if command is not None:
                dropped += 1 + (prefix is not None)
                prefix = None
            command = [byte]
        elif command is None:
            stray += 1
            continue
        else:
            command.append(byte)
        status, *rest = command
        if len(rest) == DATA_LENGTHS[status]:
            if prefix is not None and status < 0xC0:
                events.append(Os4ParameterChange(prefix, status, rest[0]))
                prefix = None
            else:
                dropped += prefix is not None
                prefix = None
                if status == 0xFD:
                    prefix = rest[0]
                else:
                    events.append(_event(status, rest))
            command = None
    return events, dropped + (command is not None) + (prefix is not None), stray


seven_bit = st.integers(0, 127)
voices = st.integers(0, 5)


def pairs_of(event_type, first: int, last: int):
    """Two-byte commands ``status value`` with status in first..last."""
    return st.builds(
        lambda c, v: (bytes([c, v]), event_type(c, v)), st.integers(first, last), seven_bit
    )


def notes_of(event_type, base: int):
    return st.builds(
        lambda n, k, v: (bytes([base + n, k, v]), event_type(n, k, v)), voices, seven_bit, seven_bit
    )


# Well-formed commands as (bytes, the event they mean), built without the encoder.
commands = st.one_of(
    pairs_of(ParameterChange, 0x80, 0xAF),
    pairs_of(Control, 0xB0, 0xBF),
    notes_of(NoteOn, 0xC0),
    notes_of(NoteOff, 0xD0),
    st.sampled_from([(bytes([s]), Select(b)) for s, b in SELECT_OF.items()]),
    st.just((b"\xf5", Unknown(0xF5, b""))),
    st.builds(
        lambda p, c, v: (bytes([0xFD, p, c, v]), Os4ParameterChange(p, c, v)),
        seven_bit,
        st.integers(0x80, 0xBF),
        seven_bit,
    ),
)

tones = st.binary(min_size=APR_TONE_LENGTH, max_size=APR_TONE_LENGTH).map(
    lambda raw: Tone(bytes(b & 0x7F for b in raw))
)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in pairwise(points)]


def feed_all(parser: SoundboardParser, chunks: list[bytes]) -> list:
    return [event for chunk in chunks for event in parser.feed(chunk)]


# -- parser properties ----------------------------------------------------------------------


@given(st.lists(commands, max_size=60), st.lists(st.integers(0, 400), max_size=12))
def test_any_chunking_of_a_stream_gives_the_events_it_was_built_from(pairs, cuts):
    stream = b"".join(raw for raw, _ in pairs)
    parser = SoundboardParser()
    assert feed_all(parser, chunked(stream, cuts)) == [event for _, event in pairs]
    assert (parser.dropped, parser.stray) == (0, 0)


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=40), st.binary(max_size=4))
def test_parser_never_raises_and_agrees_with_the_byte_at_a_time_rules(data, cuts):
    # Uniform bytes are half status bytes: every kind of command, cut and stray is common.
    parser = SoundboardParser()
    events = feed_all(parser, chunked(data, list(cuts)))
    parser.finish()
    assert (events, parser.dropped, parser.stray) == reference_parse(data)
    # Every byte is accounted for: in an event, a drop, or the stray count.
    sizes = {ParameterChange: 2, Control: 2, NoteOn: 3, NoteOff: 3, Select: 1}
    sizes[Os4ParameterChange] = 4  # FD pp cc vv
    event_bytes = sum(sizes.get(type(e)) or 1 + len(e.data) for e in events)
    assert event_bytes + sum(len(d.data) for d in parser.drop_log) + parser.stray == len(data)


def _after_prefix(stream: bytes, at: int) -> bool:
    """Whether the status byte at ``at`` follows a complete ``FD pp`` (then data bytes
    only): damage that made an FD prefix changes the meaning of the next command."""
    back = at - 1
    while back >= 0 and stream[back] < 0x80:
        back -= 1
    return back >= 0 and stream[back] == 0xFD and at - back >= 2


@given(
    st.lists(commands, min_size=1, max_size=30),
    st.sampled_from(["insert", "delete", "replace"]),
    st.integers(0, 10_000),
    st.integers(0, 255),
)
def test_after_corruption_every_intact_command_past_the_next_status_byte_decodes(
    pairs, operation, where, byte
):
    stream = b"".join(raw for raw, _ in pairs)
    at = where % (len(stream) + (operation == "insert"))
    if operation == "insert":
        corrupted, resume, shift = stream[:at] + bytes([byte]) + stream[at:], at + 1, -1
    elif operation == "delete":
        corrupted, resume, shift = stream[:at] + stream[at + 1 :], at, 1
    else:
        corrupted, resume, shift = stream[:at] + bytes([byte]) + stream[at + 1 :], at + 1, 0
    events = parse(corrupted).events  # never raises
    starts = list(accumulate((len(raw) for raw, _ in pairs), initial=0))
    # The first status byte past the damage that starts a command in the clean stream (the
    # `cc` of an OS4 `FD pp cc vv` is a status byte inside a command).
    intact = [
        i + shift
        for i in range(resume, len(corrupted))
        if corrupted[i] >= 0x80 and i + shift in starts[:-1] and not _after_prefix(corrupted, i)
    ]
    if not intact:
        return
    tail = [
        event for start, (_, event) in zip(starts[:-1], pairs, strict=True) if start >= intact[0]
    ]
    assert events[-len(tail) :] == tail


def test_a_command_split_across_feeds_completes_on_the_next_feed():
    parser = SoundboardParser()
    assert parser.feed(b"\xf9\xc3") == [Select(Board.UPPER)]
    assert parser.feed(b"\x3c") == []
    assert parser.feed(b"\x64\x97") == [NoteOn(3, 0x3C, 0x64)]
    assert parser.feed(b"\x40") == [ParameterChange(0x97, 0x40)]
    assert (parser.dropped, parser.stray) == (0, 0)


def test_cut_commands_are_dropped_with_their_stream_offset_and_strays_counted():
    parser = SoundboardParser(drop_log_size=2)
    assert parser.feed(b"\x05\x06\xc0\x3c") == []
    assert parser.feed(b"\xf4\x97") == [Select(Board.BOTH)]
    assert parser.feed(b"\xbb\x00\x01\xd2\x3c") == [Control(0xBB, 0)]
    parser.finish()
    assert parser.stray == 3
    assert parser.dropped == 3
    # bounded: the oldest drop (C0 3C at offset 2) fell out of the log
    assert list(parser.drop_log) == [Dropped(5, b"\x97"), Dropped(9, b"\xd2\x3c")]


@pytest.mark.parametrize(
    ("raw", "event"),
    [
        (b"\xf5", Unknown(0xF5, b"")),
        (b"\xfd\x02\x80\x05", Os4ParameterChange(2, 0x80, 5)),
        (b"\xe3", Unknown(0xE3, b"")),
        (b"\xcf\x01\x02", NoteOn(15, 1, 2)),  # voices past 5 are decoded, not invented
    ],
)
def test_unusual_status_bytes_decode_as_documented(raw, event):
    assert parse(raw).events == [event]


def test_events_look_up_their_parameter_in_the_one_table():
    assert ParameterChange(0x97, 10).parameter is lookup("VCF FREQ")
    assert isinstance(ParameterChange(0x97, 10).parameter, ToneParameter)
    unknown = ParameterChange(0xAE, 0).parameter
    aftertouch = ParameterChange(0x8C, 0).parameter
    assert isinstance(unknown, BoardControl) and unknown.code == 0xAE
    assert isinstance(aftertouch, BoardControl) and aftertouch.code == 0x8C
    assert Control(0xBB, 0).parameter.name == "HOLD.SW"


# -- encoder --------------------------------------------------------------------------------


@given(tones)
def test_a_whole_tone_encodes_all_parameters_in_apr_order_and_round_trips(tone):
    events = parse(encode_tone(tone)).events
    expected_indexes = sorted([p.apr_index for p in TONE_PARAMETERS] + [AE_INDEX])
    assert [apr_index_of(e.code) for e in events] == expected_indexes
    assert all(e.value == tone.data[apr_index_of(e.code)] for e in events)
    [(board, decoded)] = decode_tones(encode_tones({Board.UPPER: tone})).items()
    assert board == Board.UPPER and decoded.name == ""
    assert decoded.values() == tone.values() and decoded.data[AE_INDEX] == tone.data[AE_INDEX]


@given(tones, tones)
def test_a_partial_tone_sends_only_the_differences(tone, previous):
    events = parse(encode_tone(tone, previous)).events
    changed = [i for i in range(APR_TONE_LENGTH) if tone.data[i] != previous.data[i]]
    sent = {apr_index_of(e.code) for e in events}
    never_sent = set(range(NAME_LENGTH)) | set(UNUSED_TONE_INDEXES) - {AE_INDEX}
    assert sent == set(changed) - never_sent
    onto_previous = parse(encode_tones({Board.LOWER: previous}) + encode_tone(tone, previous))
    assert decode_tones(onto_previous.events)[Board.LOWER].values() == tone.values()


@given(st.lists(st.tuples(st.booleans(), voices, seven_bit, seven_bit), max_size=20))
def test_notes_round_trip(notes):
    stream = b"".join((encode_note_on if on else encode_note_off)(*n) for on, *n in notes)
    assert parse(stream).events == [(NoteOn if on else NoteOff)(*n) for on, *n in notes]


@given(st.integers(-127, 127))
def test_bend_sends_magnitude_then_sign(amount):
    assert parse(encode_bend(amount)).events == [
        Control(0xB2, abs(amount)),
        Control(0xBF, 0x00 if amount < 0 else 0x7F),
    ]


def test_fixed_sequences_are_those_of_the_protocol_notes():
    assert encode_init() == b"\xf1" * 8 + b"\xf9" * 8
    assert encode_all_notes_off() == bytes.fromhex("B6 7F BB 00 B5 00")
    assert encode_hold(True) == bytes.fromhex("BB 7F") and encode_hold(False) == b"\xbb\x00"
    assert encode_modulation(0x40) == bytes.fromhex("BC 40")
    assert [encode_select(b) for b in (Board.LOWER, Board.UPPER, Board.BOTH)] == [
        b"\xf1",
        b"\xf9",
        b"\xf4",
    ]
    assert encode_note_off(2, 60) == bytes([0xD2, 60, 0])


def test_stock_load_style_moves_a_rescaled_vca_level_after_b5():
    tone = INIT_TONE.replace(vca_level=0x7F)
    stream = encode_tone(tone, style=LoadStyle(porta_switch_off=True, vca_level_scale=0x5C / 0x7F))
    assert stream.endswith(bytes.fromhex("B5 00 9E 5C"))
    assert stream.count(b"\x9e") == 1
    assert encode_tones({Board.LOWER: tone}).endswith(bytes.fromhex("AF 40 B5 00"))
    with pytest.raises(ValueError, match=r"vca_level_scale=1\.5.*0\.0\.\.1\.0"):
        LoadStyle(vca_level_scale=1.5)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: encode_note_on(6, 60, 100), r"voice=6 is out of range; allowed 0\.\.5"),
        (lambda: encode_note_on(0, 128, 100), r"key=128 is out of range; allowed 0\.\.127"),
        (lambda: encode_note_on(0, 60, -1), r"velocity=-1 is out of range; allowed 0\.\.127"),
        (lambda: encode_note_off(True, 60), r"voice=True"),
        (lambda: encode_note_off(0, 60.0), r"key=60\.0"),
        (lambda: encode_bend(128), r"amount=128 is out of range; allowed -127\.\.127"),
        (lambda: encode_modulation(200), r"value=200 is out of range; allowed 0\.\.127"),
        (lambda: encode_select(1), r"board=1 is not a board; allowed Board\.LOWER"),
    ],
)
def test_bad_encoder_arguments_name_the_argument_value_and_range(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_dumped_tone_byte_above_127_goes_as_127_never_as_a_status_byte():
    # Real JX-8P ROM dumps hold 0x80 in some tone bytes (e.g. jx8p-4.rom.syx).
    body = bytearray(INIT_TONE.data)
    body[lookup("VCF RES").apr_index] = 0x80
    stream = encode_tone(Tone.from_dump(bytes(body)))
    assert dict(parse(stream).events)[lookup("VCF RES").code] == 127
    assert all(b < 0x80 for b in stream[1::2])


# -- replay ---------------------------------------------------------------------------------


def test_replay_tracks_selects_and_both_sets_both_boards():
    stream = (
        encode_select(Board.BOTH)
        + encode_tone(INIT_TONE)
        + encode_select(Board.UPPER)
        + bytes.fromhex("97 11 B4 32")
        + encode_select(Board.LOWER)
        + bytes.fromhex("8C 05")
    )
    states = replay(stream)
    assert states[Board.UPPER].tone()["VCF FREQ"] == 0x11
    assert states[Board.LOWER].tone()["VCF FREQ"] == INIT_TONE["VCF FREQ"]
    assert states[Board.UPPER].controls == {0xB4: 0x32}
    assert states[Board.LOWER].controls == {0x8C: 5}  # patch-level, not a tone byte


def test_a_board_without_all_44_parameters_has_no_tone():
    partial = encode_select(Board.LOWER) + encode_tone(INIT_TONE)[:-2]  # VCA MODE missing
    assert decode_tones(partial) == {}
    assert not replay(partial)[Board.LOWER].complete


# -- the captured stock stream --------------------------------------------------------------


@pytest.fixture(scope="module")
def stock_stream(shared_data: Path) -> bytes:
    return (shared_data / "soundboard" / "assigner-stream-two-tones.bin").read_bytes()


# Offsets read from `xxd assigner-stream-two-tones.bin`: the first pass's lower tone body runs
# from 0x0C (after F1 at 0x0B) to 0x63, the upper one from 0x68 (after F9) to 0xBF; VCA LEVEL
# follows at 0xC3 (F1 9E 5C) and 0xC6 (F9 9E 74); `F5 C0 00 F4` sits at 0x108 and 0x213.
LOWER_BODY = slice(0x0C, 0x64)
UPPER_BODY = slice(0x68, 0xC0)


def test_stock_stream_layout_is_as_read_from_the_hex_dump(stock_stream):
    assert len(stock_stream) == 798
    assert stock_stream[0x0B] == 0xF1 and stock_stream[0x67] == 0xF9
    assert stock_stream[0xC3:0xC9] == bytes.fromhex("F1 9E 5C F9 9E 74")
    assert stock_stream[0x108:0x10C] == stock_stream[0x213:0x217] == bytes.fromhex("F5 C0 00 F4")


def test_stock_stream_gives_two_whole_tones_with_the_bytes_on_the_wire(stock_stream):
    tones = decode_tones(stock_stream)
    assert set(tones) == {Board.LOWER, Board.UPPER}
    states = replay(stock_stream)
    for board, body, vca_level in (
        (Board.LOWER, LOWER_BODY, 0x5C),
        (Board.UPPER, UPPER_BODY, 0x74),
    ):
        tone, raw = tones[board], stock_stream[body]
        sent = dict(zip(raw[::2], raw[1::2], strict=True))
        assert len(sent) == 44 and 0x9E not in sent and 0xAE in sent  # 43 parameters + AE
        assert {apr_index_of(c): v for c, v in sent.items()} == {
            i: tone.data[i] for i in map(apr_index_of, sent)
        }
        assert tone["VCA LEVEL"] == vca_level  # rescaled, sent after the load
        assert states[board].complete and tone.name == ""
    # a handful, read by eye from the dump
    assert tones[Board.LOWER]["DCO1 RANGE"] == 0x60 and tones[Board.UPPER]["DCO1 RANGE"] == 0x20
    assert tones[Board.LOWER]["VCF FREQ"] == 0x44 and tones[Board.UPPER]["VCF FREQ"] == 0x2C
    assert tones[Board.LOWER]["LFO RATE"] == 0x50 and tones[Board.UPPER]["LFO RATE"] == 0x67
    assert tones[Board.LOWER].data[AE_INDEX] == 0x00 and tones[Board.UPPER].data[AE_INDEX] == 0x7F


def test_stock_stream_reports_the_cut_note_on_and_the_controls(stock_stream):
    result = parse(stock_stream)
    assert result.dropped == 2 and result.stray == 0
    assert result.drop_log == (Dropped(0x109, b"\xc0\x00"), Dropped(0x214, b"\xc0\x00"))
    assert result.events.count(Unknown(0xF5, b"")) == 2
    states = replay(result.events)
    lower, upper = states[Board.LOWER].controls, states[Board.UPPER].controls
    assert lower[0xB4] == lower[0xBE] == 0x51  # master tune / detune, per board
    assert upper[0xB4] == upper[0xBE] == 0x32
    for controls in (lower, upper):
        assert controls[0xB6] == 0x7F and controls[0xB0] == 0x01
        assert all(controls[c] == 0 for c in (0xB5, 0xB7, 0xB8, 0xB9, 0xBA, 0xBB, 0xBD))
        assert all(controls[c] == 0 for c in (0x8C, 0x8D, 0x8E))


def test_stock_stream_in_any_chunking_gives_the_same_events(stock_stream):
    whole = parse(stock_stream).events
    for size in (1, 2, 3, 7, 64):
        parser = SoundboardParser()
        chunks = [stock_stream[i : i + size] for i in range(0, len(stock_stream), size)]
        assert feed_all(parser, chunks) == whole
        assert parser.dropped == 2


def test_every_real_jx8p_tone_survives_the_board_stream(jx8p_banks):
    """The path of `jxdaq syx convert`: bank -> board stream -> tones, byte-exact."""
    tones = [entry.item for bank in jx8p_banks for entry in read_syx(bank).tones]
    assert len(tones) == 13 * 32
    for lower, upper in zip(tones[::2], tones[1::2], strict=True):
        decoded = decode_tones(encode_tones({Board.LOWER: lower, Board.UPPER: upper}))
        for board, tone in ((Board.LOWER, lower), (Board.UPPER, upper)):
            # a few ROM tones hold 0x80, which a Tone reads as 127 (Tone.from_dump)
            assert decoded[board].values() == tone.values()
            assert decoded[board].data[AE_INDEX] == tone.data[AE_INDEX]


# -- the Vecoven OS4 page prefix (FD 01 cc vv) -----------------------------------------------


def _os4_tone() -> Tone:
    return INIT_TONE.replace_os4(pwm1_width=90, lfo2_rate=33, env1_sustain=5, vcf_lfo2=7)


def test_an_os4_tone_load_sends_its_added_parameters_behind_the_page_prefix():
    tone = _os4_tone()
    stream = encode_tone(tone)
    stock_part = encode_tone(Tone(tone.data))
    assert stream.startswith(stock_part)
    extra = stream[len(stock_part) :]
    # every OS4-added parameter, in IPR order, as FD 01 cc vv with cc from 0x80 up
    assert len(extra) == 4 * len(OS4_ADDED)
    assert extra[:4] == bytes([0xFD, OS4_BOARD_PAGE, 0x80, 32])  # DCO1 LFO SOURCE: LFO1 +
    events = parse(stream).events
    changes = [e for e in events if isinstance(e, Os4ParameterChange)]
    assert [e.parameter for e in changes] == list(OS4_ADDED)
    held = decode_tones(encode_select(Board.UPPER) + stream)[Board.UPPER]
    assert held.os4_values()["PWM1 WIDTH"] == 90 and held.os4_values()["ENV1 SUSTAIN"] == 5
    assert held.values() == tone.values()  # a board never receives the name


def test_an_os4_change_sends_only_the_added_parameters_that_differ():
    tone = _os4_tone()
    changed = tone.replace_os4(pwm1_width=91)
    pwm1 = lookup_os4("PWM1 WIDTH")
    assert encode_tone(changed, previous=tone) == encode_os4_parameter(pwm1, 91)
    assert encode_tone(tone, previous=tone) == b""


def test_a_page_prefix_without_a_parameter_after_it_is_dropped_where_it_stood():
    parser = SoundboardParser()
    assert parser.feed(b"\xfd\x01") == []
    assert parser.feed(b"\xf9\x97\x10") == [Select(Board.UPPER), ParameterChange(0x97, 0x10)]
    assert parser.dropped == 1 and list(parser.drop_log) == [Dropped(0, b"\xfd\x01")]
    # across feeds, the prefix waits for its parameter
    assert parser.feed(b"\xfd\x01\x80") == []
    assert parser.feed(b"\x20") == [Os4ParameterChange(1, 0x80, 0x20)]
    parser.feed(b"\xfd\x01")
    parser.finish()
    assert parser.dropped == 2


def test_os4_events_name_their_parameter_or_none():
    assert Os4ParameterChange(OS4_BOARD_PAGE, 0x80, 0).parameter is OS4_ADDED[0]
    assert Os4ParameterChange(2, 0x80, 0).parameter is None
    assert Os4ParameterChange(OS4_BOARD_PAGE, 0xBF, 0).parameter is None
    with pytest.raises(ValueError, match="stock code"):
        encode_os4_parameter(lookup_os4("VCF FREQ"), 1)


def test_the_os4_dump_goes_through_the_board_codec(shared_data):
    dump = read_syx(shared_data / "mks70" / "mks70-bulk-dump-vecoven-os4.syx")
    tones = [entry.item for entry in dump.tones]
    for tone in tones:
        held = decode_tones(encode_tones({Board.UPPER: tone}))[Board.UPPER]
        added = {p.name: tone.os4[p.apr_index] for p in OS4_ADDED}
        assert {p.name: held.os4[p.apr_index] for p in OS4_ADDED} == added
        assert held.values() == tone.values()
