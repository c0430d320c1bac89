"""Front ends of the emulated board that need no audio or MIDI service: the serial side
(a real pseudo-terminal, a real TCP socket through pyserial's URL handler), the in-process
server, and the ``jxdaq emulator render`` command."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import serial
import soundfile
from typer.testing import CliRunner

from daq.emulator.board import BoardEmulator
from daq.emulator.serve import (
    NO_AUDIO,
    SERIAL_BAUD,
    PtyLine,
    ServeConfig,
    _stream_clock,
    open_line,
    serve,
)
from firmware_protocol.soundboard import Board, replay
from jxdaq.commands.emulator import app

MIDDLE_C = bytes([0xF9, 0xC0, 0x3C, 0x64])
TIMEOUT_S = 20.0
#: The server compiles the voice kernels before it says "ready": a minute when numba's
#: cache is cold on a busy 2-core machine.
READY_TIMEOUT_S = 90.0


def wait_for(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.01)


def read_all(line, count: int) -> bytes:
    data = b""
    deadline = time.monotonic() + TIMEOUT_S
    while len(data) < count and time.monotonic() < deadline:
        data += line.read(0.1)
    return data


def test_a_pty_carries_every_byte_value_unchanged():
    """Raw mode: no CR/LF translation, no echo, no flow-control bytes eaten."""
    line = PtyLine()
    try:
        sent = bytes(range(256)) * 4
        with serial.Serial(line.path, SERIAL_BAUD) as port:
            port.write(sent)
            port.flush()
        assert read_all(line, len(sent)) == sent
    finally:
        line.close()


def test_a_pyserial_url_is_a_line_too():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        line = open_line(f"socket://127.0.0.1:{port}")
        try:
            peer, _ = server.accept()
            with peer:
                peer.sendall(MIDDLE_C)
                assert read_all(line, len(MIDDLE_C)) == MIDDLE_C
        finally:
            line.close()


def test_an_unopenable_port_names_itself():
    with pytest.raises(OSError, match="/dev/nonexistent-jx"):
        open_line("/dev/nonexistent-jx")


class InProcessServer:
    """``serve()`` in a thread of this process, with a pty and no audio device."""

    def __init__(self) -> None:
        self.emulator = BoardEmulator(44100)
        self.announced: dict[str, str] = {}
        self.stop = threading.Event()
        self.outcome: list[object] = []  # the Counters, or the exception serve() raised
        config = ServeConfig(serial="pty", audio_device=NO_AUDIO, block_frames=1024)
        self.thread = threading.Thread(target=self._run, args=(config,), daemon=True)
        self.thread.start()
        wait_for(
            lambda: "ready" in self.announced or bool(self.outcome),
            "the server to announce 'ready'",
            READY_TIMEOUT_S,
        )
        if self.outcome:
            pytest.fail(f"serve() failed before 'ready': {self.outcome[0]!r}")

    def _run(self, config: ServeConfig) -> None:
        try:
            self.outcome.append(serve(config, self.stop, self._announce, self.emulator))
        except Exception as error:  # reported by the test, not lost in the thread
            self.outcome.append(error)

    def _announce(self, line: str) -> None:
        key, _, value = line.partition(": ")
        self.announced[key] = value

    def shut_down(self):
        self.stop.set()
        self.thread.join(TIMEOUT_S)
        assert self.outcome, "serve() did not return after stop"
        return self.outcome[0]


@pytest.fixture
def server() -> Iterator[InProcessServer]:
    running = InProcessServer()
    yield running
    running.shut_down()


def test_bytes_written_to_the_served_pty_play_on_the_board(server, shared_data: Path):
    stream = (shared_data / "soundboard/assigner-stream-two-tones.bin").read_bytes()
    with serial.Serial(server.announced["serial"], SERIAL_BAUD) as port:
        port.write(stream + MIDDLE_C)
        port.flush()
    emulator = server.emulator
    wait_for(lambda: emulator.sounding(Board.UPPER)[0], "the upper board's voice 0 to sound")
    assert emulator.tone(Board.UPPER) == replay(stream)[Board.UPPER].tone()
    assert not emulator.sounding(Board.LOWER).any()


def test_serve_reports_what_went_through():
    server = InProcessServer()
    with serial.Serial(server.announced["serial"], SERIAL_BAUD) as port:
        port.write(bytes([0xF9, 0xC0, 60, 0xF1]))  # a note on cut short
    wait_for(lambda: server.emulator.parser.dropped == 1, "the cut-short command to be dropped")
    counters = server.shut_down()
    assert counters.serial_bytes == 4
    assert counters.dropped_commands == 1


# -- jxdaq emulator render ---------------------------------------------------------------------


def test_render_writes_the_tone_as_wav_and_png(jx8p_banks: list[Path], tmp_path: Path):
    out, png = tmp_path / "take.wav", tmp_path / "spec.png"
    args = ["render", "--syx", str(jx8p_banks[0]), "--tone", "3", "--note", "60"]
    result = CliRunner().invoke(
        app, [*args, "--hold", "0.5", "--release", "0.25", "--out", str(out), "--png", str(png)]
    )
    assert result.exit_code == 0, result.output
    audio, rate = soundfile.read(out, dtype="float32")
    assert rate == 44100
    assert len(audio) == round(0.75 * 44100)
    assert 1e-3 < np.max(np.abs(audio)) <= 1.0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_render_names_the_tone_count_when_n_is_past_the_end(jx8p_banks: list[Path], tmp_path):
    result = CliRunner().invoke(
        app, ["render", "--syx", str(jx8p_banks[0]), "--tone", "33", "--out", str(tmp_path / "x")]
    )
    assert result.exit_code != 0
    assert "holds 32 tones" in result.output
    assert not (tmp_path / "x").exists()


def test_render_reports_a_bad_syx_file_by_offset(tmp_path: Path):
    bad = tmp_path / "bad.syx"
    bad.write_bytes(bytes([0xF0, 0x41, 0x35, 0x00, 0x21, 0x20, 0x01, 0x10, 0xF7]))
    result = CliRunner().invoke(app, ["render", "--syx", str(bad), "--out", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert "byte" in result.output and "bad.syx" in result.output


# -- jxdaq emulator serve: what it says when a device cannot be opened ---------------------------


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--audio-device", "no-such-audio-device-jx"], "no-such-audio-device-jx"),
        (["--midi-in", "jx", "--midi-backend", "mido.backends.no_such_api"], "no_such_api"),
        (["--serial", "/dev/nonexistent-jx"], "/dev/nonexistent-jx"),
    ],
)
def test_serve_names_the_device_it_cannot_open(options: list[str], named: str):
    defaults = {"--serial": "none", "--audio-device": "none"}
    given = dict(zip(options[::2], options[1::2], strict=True))
    args = [a for k, v in {**defaults, **given}.items() for a in (k, v)]
    result = CliRunner().invoke(app, ["serve", *args])
    assert result.exit_code == 1, result.output
    assert "cannot open" in result.output and named in result.output


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--outputs", "left=1"], "unknown source 'left'"),
        (["--outputs", "boards", "--channels", "1"], "channel 2 is past the 1 channels"),
        (["--command-delay-ms", "50", "--output-latency-ms", "80"], "would come late"),
    ],
)
def test_serve_refuses_outputs_and_latencies_that_cannot_work(options: list[str], named: str):
    result = CliRunner().invoke(app, ["serve", "--serial", "none", *options])
    assert result.exit_code == 2, result.output
    assert named in re.sub(r"[\s│]+", " ", result.output)  # rich boxes and wraps messages


class StallingStream:
    """An output stream whose time PortAudio cannot tell for a while (as during ALSA's
    underrun recovery): PortAudio cannot be made to fail on demand."""

    def __init__(self) -> None:
        self.stalled = False
        self.at = 1000.0

    @property
    def time(self) -> float:
        import sounddevice

        if self.stalled:
            raise sounddevice.PortAudioError("Error getting stream time")
        return self.at + time.monotonic()


def test_the_command_clock_keeps_time_while_the_stream_cannot_tell_it():
    stream = StallingStream()
    clock = _stream_clock(stream)
    assert clock() == pytest.approx(stream.at + time.monotonic(), abs=0.01)
    stream.stalled = True
    assert clock() == pytest.approx(stream.at + time.monotonic(), abs=0.01)  # no raise
