"""Each board on a channel of its own, through real devices.

Two ``jxdaq emulator serve`` processes, each behind its own pty, play into one 4-channel
PulseAudio null sink: A with ``--outputs boards --channels 4`` (lower on 1, upper on 2),
B with ``--outputs lower=3,upper=4``; PulseAudio sums the two streams, each silent where the
other plays. The sink's monitor comes back as one 4-channel input stream (DeviceInput): four
lanes on one stream clock. A note on one board is heard on that board's channel only, and
every channel's audio is, sample for sample, the batch renderer's render of that board's tone:
the sink holds float32 at the stream's rate, so nothing is resampled or quantized on the way.

The sink is this module's own (device_support.quad_sink: loaded for it, unloaded after), so
other device tests cannot be heard here. Without PulseAudio these tests FAIL (never skip).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest
import serial
from device_support import FS, PULSE, READY_TIMEOUT_S, Process, quad_sink, require_services

from daq.audio.device_input import DeviceInput, SelectedInput
from daq.emulator.board import SEED_OFFSETS
from daq.emulator.render import Note, render
from daq.emulator.serve import SERIAL_BAUD
from firmware_protocol.soundboard import (
    SELECT_BYTES,
    VOICES,
    Board,
    encode_note_off,
    encode_note_on,
    encode_tones,
)
from firmware_protocol.tone import INIT_TONE

pytestmark = pytest.mark.devices

#: A stalled emulator underruns, and its stream then carries a gap where a note should be
#: sample for sample its render. Two emulators on a 2-core machine at load 8-11 underrun with
#: PortAudio's 32 ms (benchmarks/emulator_lanes.py) and now and then with 80 ms; 150 ms rides
#: that out. The callbacks then run up to ~180 ms ahead of their samples: commands get 250 ms.
OUTPUT_LATENCY_MS = 150.0
COMMAND_DELAY_MS = 250.0
VELOCITY = 100
HOLD_S = 1.0
COMPARED_S = 0.5  # of each note's audio, from its first sample
SILENT = 1e-6  # peak of a channel whose board plays nothing: an idle board is exactly 0


@dataclass
class Emulator:
    """A served emulator and the pty it listens on."""

    process: Process
    port: serial.Serial
    seed: int
    announced: dict[str, str]
    fresh: dict[Board, list[int]] = field(
        default_factory=lambda: {board: list(VOICES) for board in (Board.LOWER, Board.UPPER)}
    )

    @classmethod
    def start(cls, sink: str, seed: int, *outputs: str) -> Emulator:
        process = Process(
            [sys.executable, "-m", "jxdaq", "emulator", "serve", "--serial", "pty",
             "--audio-device", PULSE, "--sample-rate", str(FS), "--seed", str(seed),
             "--command-delay-ms", str(COMMAND_DELAY_MS),
             "--output-latency-ms", str(OUTPUT_LATENCY_MS), *outputs],
            env={"PULSE_SINK": sink},
        )  # fmt: skip
        announced: dict[str, str] = {}

        def announce(line: str) -> bool:
            key, _, value = line.partition(": ")
            announced[key] = value
            return line == "ready"

        process.wait_for_line(announce, READY_TIMEOUT_S, "the emulator's 'ready'")
        port = serial.Serial(announced["serial"], SERIAL_BAUD)
        port.write(encode_tones({Board.LOWER: INIT_TONE, Board.UPPER: INIT_TONE}))
        return cls(process, port, seed, announced)

    def stop(self) -> None:
        self.port.close()
        self.process.stop()


@dataclass(frozen=True, eq=False)
class Lane:
    """One board of one emulator, the input channel it lands on (from 0) and its key."""

    emulator: Emulator
    board: Board
    key: int
    audio: SelectedInput  # its channel of the one input stream

    def __str__(self) -> str:
        return f"{self.board.name.lower()} board on channel {self.audio.buffer.selected[0] + 1}"

    def heard(self, frames: range) -> np.ndarray:
        return self.audio.buffer.read(frames.start, frames.stop)[:, 0]


@dataclass
class Bench:
    lanes: list[Lane]
    audio: DeviceInput


@pytest.fixture(scope="module")
def bench() -> Iterator[Bench]:
    require_services()
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(quad_sink())
        a = Emulator.start(sink, 11, "--outputs", "boards", "--channels", "4")
        stack.callback(a.stop)
        b = Emulator.start(sink, 23, "--outputs", "lower=3,upper=4")
        stack.callback(b.stop)
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.setenv("PULSE_SOURCE", f"{sink}.monitor")  # read when the stream connects
        audio = stack.enter_context(DeviceInput(PULSE, FS, channels=4, buffer_s=60.0))
        lanes = [
            Lane(a, Board.LOWER, 45, audio.select(0)),
            Lane(a, Board.UPPER, 52, audio.select(1)),
            Lane(b, Board.LOWER, 57, audio.select(2)),
            Lane(b, Board.UPPER, 64, audio.select(3)),
        ]
        yield Bench(lanes, audio)


def wait_for_quiet(audio: DeviceInput, timeout_s: float = 30.0) -> None:
    """Until the last 0.2 s of every channel is silent (earlier notes have died away)."""
    window = FS // 5
    for _ in range(int(timeout_s / 0.1)):
        written = audio.buffer.written
        recent = audio.buffer.read(max(0, written - window), written)
        if written >= window and np.abs(recent).max() < SILENT:
            return
        audio.buffer.wait_for(written + FS // 10, timeout_s=5.0)
    pytest.fail(f"the sink's monitor did not fall silent within {timeout_s:.0f} s")


def play(bench: Bench, lanes: list[Lane]) -> range:
    """Each of ``lanes`` plays its key on a voice it has not used yet, all at once; returns
    the input's frames that hold what came back."""
    audio = bench.audio
    wait_for_quiet(audio)
    start = audio.buffer.written
    voices = {}
    for lane in lanes:
        voices[lane] = voice = lane.emulator.fresh[lane.board].pop(0)
        lane.emulator.port.write(
            bytes([SELECT_BYTES[lane.board]]) + encode_note_on(voice, lane.key, VELOCITY)
        )
    for lane in lanes:
        lane.emulator.port.flush()
    end = start + round((HOLD_S + 0.5) * FS)  # the command delay and PulseAudio's buffering
    audio.buffer.wait_for(end, timeout_s=HOLD_S + 10)
    for lane in lanes:
        lane.emulator.port.write(
            bytes([SELECT_BYTES[lane.board]]) + encode_note_off(voices[lane], lane.key)
        )
        lane.emulator.port.flush()
    return range(start, end)


def assert_is_the_render(heard: np.ndarray, lane: Lane) -> None:
    """``heard`` (one channel) holds the batch render of the lane's note, sample for sample."""
    seed = lane.emulator.seed + SEED_OFFSETS[lane.board]
    expected = render([INIT_TONE], Note(lane.key, VELOCITY), HOLD_S, 0.0, FS, seed=seed)[0]
    sounding = np.flatnonzero(heard)
    assert sounding.size, f"{lane}: nothing came back"
    begin = sounding[0] - np.flatnonzero(expected)[0]
    compared = round(COMPARED_S * FS)
    assert begin + compared <= heard.size, f"{lane}: the note came back too late"
    np.testing.assert_allclose(
        heard[begin : begin + compared], expected[:compared], rtol=0, atol=SILENT,
        err_msg=f"{lane}: not the batch render of its note",
    )  # fmt: skip


def test_each_emulator_announces_where_its_boards_play(bench: Bench):
    first, second = bench.lanes[0].emulator, bench.lanes[2].emulator
    assert first.announced["audio"].endswith("4 channel(s): lower=1,upper=2")
    assert second.announced["audio"].endswith("4 channel(s): lower=3,upper=4")


@pytest.mark.parametrize("index", range(4), ids=["A-lower", "A-upper", "B-lower", "B-upper"])
def test_a_note_on_one_board_is_heard_on_its_channel_only(bench: Bench, index: int):
    lane = bench.lanes[index]
    frames = play(bench, [lane])
    assert_is_the_render(lane.heard(frames), lane)
    for other in bench.lanes:
        if other is not lane:
            leak = float(np.abs(other.heard(frames)).max())
            assert leak < SILENT, f"{lane}: heard on the {other} too ({leak:.1e})"


def test_four_boards_of_two_emulators_play_at_once_on_one_four_channel_stream(bench: Bench):
    frames = play(bench, bench.lanes)
    for lane in bench.lanes:
        assert_is_the_render(lane.heard(frames), lane)
