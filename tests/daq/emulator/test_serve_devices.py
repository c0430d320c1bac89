"""The standalone emulator end to end, through real devices: ``jxdaq emulator serve`` as its
own process, bytes written to its pty with pyserial, MIDI sent to its virtual input through
JACK's dummy backend, and its audio captured back from the PulseAudio null sink's monitor
through sounddevice. The services come from scripts/test-services.sh; without them these
tests FAIL (never skip), so CI cannot go green without them.

Expected pitches are equal temperament (A = 440 Hz), not the emulator's own output: the
INIT tone is one 8' sawtooth with an open filter, whose strongest partial is the key's.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import serial
from device_support import same_port

from daq.emulator.serve import MIDI_CLIENT_NAME, SERIAL_BAUD
from firmware_protocol.soundboard import Board, encode_note_off, encode_note_on, encode_tones
from firmware_protocol.sysex import TONE_A, Device, ToneAPR
from firmware_protocol.tone import INIT_TONE

pytestmark = pytest.mark.devices

FS = 48000
PULSE = "pulse"  # PortAudio's ALSA device that reaches PulseAudio (libasound2-plugins)
JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"
#: The server compiles the voice kernels before "ready": up to a minute on a cold cache.
READY_TIMEOUT_S = 90.0
SETUP_HINT = "start the services with: bash scripts/test-services.sh"


def require_services() -> None:
    """Fail with what is missing and how to start it."""
    import sounddevice as sd

    names = [device["name"] for device in sd.query_devices()]
    if PULSE not in names:
        pytest.fail(f"PortAudio has no {PULSE!r} device (PulseAudio not running?): {SETUP_HINT}")
    env = {**os.environ, "JACK_NO_START_SERVER": "1"}
    try:
        subprocess.run(["jack_lsp"], env=env, capture_output=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError) as error:
        pytest.fail(f"no JACK server answers ({error}): {SETUP_HINT}")


class Server:
    """``jxdaq emulator serve`` with a pty, PulseAudio and a JACK MIDI port."""

    def __init__(self, midi_port: str) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.announced: dict[str, str] = {}
        command = [
            sys.executable, "-m", "jxdaq", "emulator", "serve",
            "--serial", "pty", "--audio-device", PULSE, "--sample-rate", str(FS),
            "--midi-in", midi_port, "--midi-backend", JACK_BACKEND,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "JACK_NO_START_SERVER": "1"},
        )
        threading.Thread(target=self._read, daemon=True).start()
        self._wait_ready()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.output.append(line)
            key, _, value = line.partition(": ")
            self.announced[key] = value
            if line == "ready":
                return
        self.stop()
        pytest.fail(
            f"the emulator did not become ready within {READY_TIMEOUT_S:.0f} s "
            f"(exit code {self.process.returncode}); its output:\n" + "\n".join(self.output)
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    require_services()
    running = Server(midi_port=f"jxdaq-test-{os.getpid()}")
    yield running
    running.stop()


class Recorder:
    """Everything the null sink's monitor plays, from PulseAudio's default source."""

    def __init__(self) -> None:
        import sounddevice as sd

        self._blocks: list[np.ndarray] = []
        self._stream = sd.InputStream(
            device=PULSE, samplerate=FS, channels=1, dtype="float32", callback=self._take
        )

    def _take(self, data: np.ndarray, *_: object) -> None:
        self._blocks.append(data[:, 0].copy())

    def __enter__(self) -> Recorder:
        self._stream.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stream.stop()
        self._stream.close()

    def frames(self) -> int:
        return sum(len(b) for b in list(self._blocks))

    def since(self, frame: int) -> np.ndarray:
        return np.concatenate(list(self._blocks) or [np.zeros(0, np.float32)])[frame:]


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def peak_hz(x: np.ndarray) -> float:
    """Frequency of the strongest spectral peak, refined by parabolic interpolation."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    i = int(np.argmax(spectrum[1:-1])) + 1
    a, b, c = np.log(spectrum[i - 1 : i + 2] + 1e-30)
    return (i + 0.5 * (a - c) / (a - 2 * b + c)) * FS / len(x)


def wait_until(condition, failure: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(failure)
        time.sleep(0.05)


def capture_note(recorder: Recorder, play, stop, seconds: float = 1.5) -> np.ndarray:
    """Wait for quiet, ``play()``, keep ``seconds`` of what comes back, then ``stop()``.

    Counted in recorded frames, not wall time: an input stream may take a while to start.
    """
    quiet = FS // 5
    wait_until(lambda: recorder.frames() >= quiet, "the null sink's monitor delivers no audio")
    wait_until(
        lambda: rms(recorder.since(recorder.frames() - quiet)) < 1e-4,
        "the null sink's monitor never went quiet before the note",
    )
    start = recorder.frames()
    play()
    wanted = int(seconds * FS)
    wait_until(
        lambda: recorder.frames() - start >= wanted,
        f"the monitor did not deliver {seconds} s of audio in time",
        timeout=seconds + 10,
    )
    stop()
    return recorder.since(start)[:wanted]


def assert_heard(take: np.ndarray, expected_hz: float, where: str) -> None:
    steady = take[FS // 2 :]  # past device latency and the attack
    assert rms(steady) > 1e-3, (
        f"{where}: nothing came back from the null sink's monitor (RMS {rms(steady):.1e})"
    )
    assert peak_hz(steady) == pytest.approx(expected_hz, rel=0.005), f"{where}: wrong pitch"


def test_bytes_on_the_pty_come_back_as_sound(server: Server):
    with Recorder() as recorder, serial.Serial(server.announced["serial"], SERIAL_BAUD) as port:
        port.write(encode_tones({Board.UPPER: INIT_TONE}))

        def play() -> None:
            port.write(bytes([0xF9]) + encode_note_on(0, 69, 100))
            port.flush()

        take = capture_note(recorder, play, lambda: port.write(encode_note_off(0, 69)))
    assert_heard(take, 440.0, "serial pty -> PulseAudio")


def test_midi_through_jack_comes_back_as_sound(server: Server):
    import mido

    backend = mido.Backend(JACK_BACKEND, load=True)
    announced = server.announced["midi-in"]
    assert announced.startswith(f"{MIDI_CLIENT_NAME}:")
    names = [n for n in backend.get_output_names() if same_port(n, announced)]
    assert names, f"no JACK MIDI port {announced!r} among {backend.get_output_names()}"
    tone = ToneAPR(Device.MKS70, 0, TONE_A, INIT_TONE).encode()
    with Recorder() as recorder, backend.open_output(names[0]) as port:
        port.send(mido.Message("sysex", data=tone[1:-1]))
        take = capture_note(
            recorder,
            lambda: port.send(mido.Message("note_on", note=57, velocity=100)),
            lambda: port.send(mido.Message("note_off", note=57)),
        )
    assert_heard(take, 220.0, "MIDI via JACK -> PulseAudio")
