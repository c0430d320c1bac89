"""The serial voice-board instrument, through a real pseudo-terminal."""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daq.instruments.base import InstrumentError
from daq.instruments.serial_board import SerialLine, SerialVoiceBoard
from firmware_protocol import soundboard as sb
from firmware_protocol.tone import INIT_TONE


@pytest.fixture
def pty_board():
    """An instrument writing into a pty; the test reads what a board would receive."""
    controller, device = os.openpty()
    board = SerialVoiceBoard(os.ttyname(device), board=sb.Board.UPPER)
    board.open()
    parser = sb.SoundboardParser()

    def received() -> list[sb.Event]:
        time.sleep(0.05)
        events: list[sb.Event] = []
        os.set_blocking(controller, False)
        try:
            while chunk := os.read(controller, 4096):
                events += parser.feed(chunk)
        except BlockingIOError:
            pass
        return events

    yield board, received
    board.close()
    os.close(controller)
    os.close(device)


def test_open_sends_init_then_selects_its_board(pty_board):
    _, received = pty_board
    events = received()
    selects = [e.board for e in events if isinstance(e, sb.Select)]
    assert selects[:16] == [sb.Board.LOWER] * 8 + [sb.Board.UPPER] * 8
    assert selects[-1] == sb.Board.UPPER


def test_program_sends_the_whole_tone_once_then_only_changes(pty_board):
    board, received = pty_board
    received()
    board.program(INIT_TONE)
    first = [e for e in received() if isinstance(e, sb.ParameterChange)]
    assert len({e.code for e in first}) >= 44
    board.program(INIT_TONE.replace(vcf_freq=33, env1_attack=90))
    second = received()
    assert second[0] == sb.Select(sb.Board.UPPER)
    assert second[1:] == [sb.ParameterChange(0x97, 33), sb.ParameterChange(0xA4, 90)]
    board.program(INIT_TONE.replace(vcf_freq=33, env1_attack=90))
    assert received() == []


def test_notes_get_distinct_voices_and_note_off_finds_them(pty_board):
    board, received = pty_board
    received()
    for key in (60, 64, 67):
        board.note_on(key, 100)
    board.note_off(64)
    events = received()
    ons = [e for e in events if isinstance(e, sb.NoteOn)]
    assert [(e.key, e.velocity) for e in ons] == [(60, 100), (64, 100), (67, 100)]
    assert len({e.voice for e in ons}) == 3
    (off,) = [e for e in events if isinstance(e, sb.NoteOff)]
    assert off.key == 64 and off.voice == ons[1].voice


def test_writes_are_paced_at_the_line_rate(pty_board):
    board, received = pty_board
    received()
    start = time.monotonic()
    for value in range(20):
        board.program(INIT_TONE.replace(vcf_freq=value, vcf_res=value))  # 5 bytes each
    elapsed = time.monotonic() - start
    assert elapsed >= 19 * board.line_time_s(5)


def test_a_missing_port_names_the_instrument_and_the_port():
    board = SerialVoiceBoard("/dev/does-not-exist", name="rig-7")
    with pytest.raises(
        InstrumentError, match=r"rig-7: cannot open serial port /dev/does-not-exist"
    ):
        board.open()


@given(st.lists(st.tuples(st.booleans(), st.integers(36, 96)), min_size=1, max_size=30))
def test_two_boards_on_one_line_each_get_their_own_notes_and_tones(notes):
    """A Super JX's two boards share one serial line: whatever the interleaving, replaying
    the line gives each board its own tone and notes (the board-select bytes go out when
    the selection changes)."""
    controller, device = os.openpty()
    line = SerialLine(os.ttyname(device), paced=False)
    upper = SerialVoiceBoard(line.url, board=sb.Board.UPPER, line=line)
    lower = SerialVoiceBoard(line.url, board=sb.Board.LOWER, line=line)
    upper.open()
    lower.open()
    upper.program(INIT_TONE.replace(vcf_freq=10))
    lower.program(INIT_TONE.replace(vcf_freq=99))
    sent: dict[sb.Board, list[int]] = {sb.Board.UPPER: [], sb.Board.LOWER: []}
    for on_upper, key in notes:
        board = upper if on_upper else lower
        board.note_on(key, 100)
        sent[board.board].append(key)
        board.note_off(key)
    upper.close()
    lower.close()
    os.set_blocking(controller, False)
    data = b""
    try:
        while chunk := os.read(controller, 65536):
            data += chunk
    except BlockingIOError:
        pass
    os.close(controller)
    os.close(device)
    heard: dict[sb.Board, list[int]] = {sb.Board.UPPER: [], sb.Board.LOWER: []}
    selected = None
    for event in sb.parse(data).events:
        if isinstance(event, sb.Select):
            selected = event.board
        elif isinstance(event, sb.NoteOn):
            heard[selected].append(event.key)
    assert heard == sent
    tones = sb.decode_tones(data)
    assert tones[sb.Board.UPPER]["VCF FREQ"] == 10
    assert tones[sb.Board.LOWER]["VCF FREQ"] == 99


def test_writing_after_the_port_vanished_is_an_instrument_error():
    controller, device = os.openpty()
    board = SerialVoiceBoard(os.ttyname(device), name="rig-3")
    board.open()
    board.line._port.close()
    with pytest.raises(InstrumentError, match="rig-3"):
        board.note_on(60, 100)
    os.close(controller)
    os.close(device)
