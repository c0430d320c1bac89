"""The served emulator's command timing (daq.emulator.timing): each command plays at its own
sample, a fixed delay after it arrived (as a real board responds), whatever the audio
callbacks' block layout."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daq.emulator.board import BoardEmulator, mix
from daq.emulator.timing import CommandScheduler
from firmware_protocol.soundboard import Board, encode_note_off, encode_note_on, encode_tones
from firmware_protocol.tone import INIT_TONE

FS = 48000
NOTE_ON = bytes([0xF9]) + encode_note_on(0, 69, 127)


def board() -> BoardEmulator:
    emulator = BoardEmulator(FS, seed=3)
    emulator.feed(encode_tones({Board.UPPER: INIT_TONE}))
    return emulator


def direct(commands: list[tuple[int, bytes]], frames: int) -> np.ndarray:
    """The reference: the board fed each command exactly at its sample, by hand."""
    emulator, parts, done = board(), [], 0
    for at, data in commands:
        parts.append(mix(emulator.process(at - done)))
        emulator.feed(data)
        done = at
    parts.append(mix(emulator.process(frames - done)))
    return np.concatenate(parts)


@settings(max_examples=15)
@given(
    block=st.sampled_from([64, 256, 441, 1024]),
    arrivals_ms=st.lists(st.floats(0.0, 40.0), min_size=1, max_size=3).map(sorted),
)
def test_commands_play_at_their_sample_whatever_the_blocks(block, arrivals_ms):
    delay_s, start = 0.05, 100.0
    now = [start]
    scheduler = CommandScheduler(board(), delay_s)
    scheduler.attach(lambda: now[0])
    commands = []
    for i, ms in enumerate(arrivals_ms):
        now[0] = start + ms / 1000
        data = NOTE_ON if i % 2 == 0 else bytes([0xF9]) + encode_note_off(0, 69)
        scheduler.feed(data)
        commands.append((round((ms / 1000 + delay_s) * FS), data))
    blocks = -(-FS // 5 // block)
    out = np.concatenate(
        [mix(scheduler.process(block, start + k * block / FS)) for k in range(blocks)]
    )
    np.testing.assert_array_equal(out, direct(commands, blocks * block))
    assert scheduler.late == 0


def test_a_command_too_late_for_its_sample_plays_at_the_next_block_and_is_counted():
    now = [1.0]
    scheduler = CommandScheduler(board(), delay_s=0.01)
    scheduler.attach(lambda: now[0])
    scheduler.feed(NOTE_ON)  # due at 1.01 s, but the next block starts at 1.5 s
    out = mix(scheduler.process(4800, 1.5))
    np.testing.assert_array_equal(out, direct([(0, NOTE_ON)], 4800))
    assert scheduler.late == 1


def test_before_the_stream_runs_commands_act_at_once():
    emulator = board()
    CommandScheduler(emulator, delay_s=0.05).feed(NOTE_ON)
    assert emulator.sounding(Board.UPPER).any()
    with pytest.raises(ValueError, match="delay_s"):
        CommandScheduler(emulator, delay_s=0.0)
