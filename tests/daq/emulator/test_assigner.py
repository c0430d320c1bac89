"""The emulated JX-10 assigner: MIDI in, voice-board bytes out.

The bytes it writes are checked with the firmware parser and its replay (another module's
reading of the same protocol), never against bytes copied from the assigner itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daq.emulator.assigner import Assigner, AssignerSettings, KeyMode, VoiceAllocator
from firmware_protocol.parameters import OS4_BY_NAME, lookup
from firmware_protocol.soundboard import Board, NoteOff, NoteOn, Select, parse, replay
from firmware_protocol.sysex import (
    IPR,
    PGR,
    TONE_A,
    TONE_B,
    Device,
    EditBuffer,
    EditBufferRequest,
    Firmware,
    Level,
    ToneAPR,
)
from firmware_protocol.tone import INIT_TONE

STREAM = "soundboard/assigner-stream-two-tones.bin"


@pytest.fixture(scope="module")
def stream(shared_data: Path) -> bytes:
    return (shared_data / STREAM).read_bytes()


def note_on(key: int, velocity: int = 100, channel: int = 0) -> bytes:
    return bytes([0x90 | channel, key, velocity])


def note_off(key: int, channel: int = 0) -> bytes:
    return bytes([0x80 | channel, key, 0])


def notes(data: bytes) -> list[tuple[Board, NoteOn | NoteOff]]:
    """(board, note event) pairs, following the selects as a board would."""
    board, out = None, []
    for event in parse(data).events:
        if isinstance(event, Select):
            board = event.board
        elif isinstance(event, NoteOn | NoteOff):
            out.append((board, event))
    return out


def test_a_tone_over_sysex_leaves_the_upper_board_as_the_stock_stream_does(stream: bytes):
    """PROTOCOL.md: the stock assigner sends VCA LEVEL 0x74 upper where the tone says 0x7F."""
    captured = replay(stream)[Board.UPPER]
    tone = captured.tone().replace(vca_level=0x7F)
    assigner = Assigner()
    sent = assigner.power_on() + assigner.midi(ToneAPR(Device.MKS70, 0, TONE_A, tone).encode())
    board = replay(sent)[Board.UPPER]
    assert board.complete
    assert board.tone() == captured.tone()
    assert board.controls == captured.controls


def test_tone_b_goes_to_the_lower_board_scaled_as_the_stock_lower_level():
    tone = INIT_TONE.replace(vcf_freq=33, vca_level=0x7F)
    boards = replay(Assigner().midi(ToneAPR(Device.MKS70, 0, TONE_B, tone).encode()))
    assert boards[Board.LOWER].tone()["VCF FREQ"] == 33
    assert boards[Board.LOWER].tone()["VCA LEVEL"] == 0x5C
    assert not boards[Board.UPPER].received


def test_the_first_note_plays_voice_0_of_the_upper_board():
    assert notes(Assigner().midi(note_on(60, 100))) == [(Board.UPPER, NoteOn(0, 60, 100))]


def test_ipr_changes_one_parameter_live():
    vcf = lookup("VCF FREQ")
    ipr = IPR(Device.MKS70, 0, Level.TONE, TONE_A, vcf.apr_index, 17).encode()
    events = parse(Assigner().midi(ipr)).events
    assert events[0] == Select(Board.UPPER)
    assert (events[1].code, events[1].value) == (vcf.code, 17)


@pytest.mark.parametrize("parameter", [0, 9, 10, 59, 127])
def test_ipr_outside_the_tone_parameters_sends_nothing(parameter: int):
    assigner = Assigner()
    assert assigner.midi(IPR(Device.MKS70, 0, Level.TONE, TONE_A, parameter, 5).encode()) == b""
    assert assigner.ignored == 1


@pytest.mark.parametrize(
    "message",
    [
        note_on(60, channel=3),  # another MIDI channel
        ToneAPR(Device.MKS70, 5, TONE_A, INIT_TONE).encode(),  # SysEx on another channel
        PGR(Device.MKS70, 0, Level.TONE, TONE_A, 3, 0).encode(),  # no memories here
        bytes([0xF0, 0x41, 0x35, 0x00, 0x24, 0x20, 0x01, 0x10, 0xF7]),  # cut-short APR
        bytes([0xC0, 5]),  # program change
    ],
)
def test_what_the_emulated_instrument_cannot_act_on_is_counted_not_sent(message: bytes):
    assigner = Assigner()
    assert assigner.midi(message) == b""
    assert assigner.ignored == 1


def test_voices_are_reused_released_longest_ago_and_stolen_oldest_first():
    allocator = VoiceAllocator()
    assert [allocator.note_on(key) for key in range(60, 66)] == [0, 1, 2, 3, 4, 5]
    assert allocator.note_on(70) == 0  # all busy: the oldest note (60) is stolen
    assert allocator.note_off(63) == 3
    assert allocator.note_off(61) == 1
    assert allocator.note_on(71) == 3  # the voice released longest ago
    assert allocator.note_on(71) == 3  # a sounding key keeps its voice
    assert allocator.note_off(99) is None


def test_note_off_reaches_the_voice_that_played_the_key():
    assigner = Assigner()
    assigner.midi(note_on(60))
    assigner.midi(note_on(64))
    assert notes(assigner.midi(note_off(60))) == [(Board.UPPER, NoteOff(0, 60, 0))]
    assert notes(assigner.midi(note_on(64, velocity=0))) == [(Board.UPPER, NoteOff(1, 64, 0))]


def test_split_and_dual_key_modes():
    split = Assigner(AssignerSettings(key_mode=KeyMode.SPLIT, split_key=60))
    assert [b for b, _ in notes(split.midi(note_on(59)) + split.midi(note_on(60)))] == [
        Board.LOWER,
        Board.UPPER,
    ]
    dual = Assigner(AssignerSettings(key_mode=KeyMode.DUAL))
    assert {b for b, _ in notes(dual.midi(note_on(60)))} == {Board.LOWER, Board.UPPER}


@pytest.mark.parametrize(("lsb", "msb", "magnitude", "polarity"), [
    (0, 0, 127, 0x00), (0, 64, 0, 0x7F), (127, 127, 127, 0x7F), (0, 32, 64, 0x00),
])  # fmt: skip
def test_pitch_bend_reaches_both_boards_as_magnitude_and_sign(lsb, msb, magnitude, polarity):
    events = parse(Assigner().midi(bytes([0xE0, lsb, msb]))).events
    assert events[0] == Select(Board.BOTH)
    assert [(e.code, e.value) for e in events[1:]] == [(0xB2, magnitude), (0xBF, polarity)]


@given(st.lists(st.binary(min_size=0, max_size=80), max_size=30))
def test_any_midi_gives_whole_commands_or_nothing(messages: list[bytes]):
    """Whatever arrives, the assigner never raises and never sends a command cut short."""
    assigner = Assigner(AssignerSettings(key_mode=KeyMode.DUAL))
    out = b"".join(assigner.midi(m) for m in messages)
    result = parse(out)
    assert (result.dropped, result.stray) == (0, 0)


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 127)), max_size=60))
def test_voice_numbers_stay_on_the_board(presses: list[tuple[bool, int]]):
    assigner = Assigner()
    sent = b"".join(assigner.midi(note_on(k) if down else note_off(k)) for down, k in presses)
    assert all(0 <= event.voice <= 5 for _, event in notes(sent))


def os4_ipr(name: str, value: int, group: int = TONE_A) -> bytes:
    number = OS4_BY_NAME[name].ipr
    return IPR(Device.MKS70, 0, Level.TONE, group, number, value, Firmware.OS4).encode()


def test_an_os4_ipr_reaches_the_board_with_the_stock_code_or_the_os4_page():
    """A stock-equivalent parameter travels as its stock code; PWM1 WIDTH, which OS4 adds,
    behind the FD page; the board ends up holding the OS4 tone the IPRs make."""
    assigner = Assigner()
    sent = assigner.midi(os4_ipr("VCF FREQ", 17)) + assigner.midi(os4_ipr("PWM1 WIDTH", 90))
    upper = replay(sent)[Board.UPPER]
    assert upper.tone()["VCF FREQ"] == 17
    assert upper.tone().os4_values()["PWM1 WIDTH"] == 90
    assert not replay(sent)[Board.LOWER].received


def test_an_os4_ipr_with_a_number_no_parameter_has_is_ignored():
    assigner = Assigner()
    wire = IPR(Device.MKS70, 0, Level.TONE, TONE_A, 120, 5, Firmware.OS4).encode()
    assert assigner.midi(wire) == b"" and assigner.ignored == 1


def answers(assigner_messages: list[bytes]) -> EditBuffer:
    return EditBuffer.decode(b"".join(assigner_messages))


def test_the_edit_buffer_request_is_answered_with_the_tones_held_message_by_message():
    answered: list[bytes] = []
    assigner = Assigner(answer=answered.append)
    upper = INIT_TONE.replace(vcf_freq=40).replace_os4(pwm1_width=30)
    assigner.midi(ToneAPR(Device.MKS70, 0, TONE_A, upper, Firmware.OS4).encode())
    assigner.midi(os4_ipr("VCF RES", 99))
    assigner.midi(
        IPR(Device.MKS70, 0, Level.TONE, TONE_B, lookup("VCF FREQ").apr_index, 12).encode()
    )  # fmt: skip  (a stock IPR is kept too)
    assert assigner.midi(EditBufferRequest(0).encode()) == b""
    assert len(answered) == 6  # one MIDI message each
    answer = answers(answered)
    assert answer.tone(TONE_A) == upper.replace_os4(vcf_res=99)
    assert answer.tone(TONE_B)["VCF FREQ"] == 12
    assert answer.tone(TONE_B).differing(INIT_TONE.replace(vcf_freq=12)) == ()


def test_without_an_answer_port_the_request_is_counted_not_answered():
    assigner = Assigner()
    assert assigner.midi(EditBufferRequest(0).encode()) == b""
    assert assigner.ignored == 1
