"""The emulated sound board as a process of its own, behind real devices.

Bytes come in on a serial line: a pseudo-terminal it opens (its path is announced, so the
code under test opens it as it would open /dev/ttyUSB0) or any pyserial URL. Whole-synth
MIDI comes in on a virtual MIDI input port (rtmidi: ALSA or JACK, chosen by mido backend
name) through the emulated assigner. Audio goes out through sounddevice to a PortAudio
output device, as the mix or each board on a channel of its own (:mod:`daq.emulator.outputs`),
and the device's clock paces the emulation; with no audio device a wall-clock pacer
takes its place. Hardware libraries are imported only when a device is opened.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import sys
import threading
import time
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from daq.emulator.assigner import Assigner, AssignerSettings
from daq.emulator.board import BoardEmulator, blocks, warm_up
from daq.emulator.outputs import MIX, OutputMap
from daq.emulator.timing import CommandScheduler
from daq.instruments.midi_input import PolledInput

#: The voice-board line's speed (PROTOCOL.md section 1).
SERIAL_BAUD = 31250
#: The MIDI client name under which the virtual input port appears ("CLIENT:PORT").
MIDI_CLIENT_NAME = "jxdaq-emulator"
#: ... and of the virtual output its answers go out on (a client of its own: JACK would
#: rename a second client of the same name).
MIDI_ANSWER_CLIENT_NAME = "jxdaq-emulator-out"
#: ``--audio-device`` value that plays to no device (emulation paced by the wall clock).
NO_AUDIO = "none"
_POLL_S = 0.1
#: While the audio callback computes, the serial thread gets the GIL within this long
#: (Python's default is 5 ms), so a command's arrival is stamped (its sample chosen) on time.
SWITCH_INTERVAL_S = 0.0005
#: "ready" waits until the output callbacks have kept pace with real time for this long: a
#: fresh PulseAudio stalls its first playback stream for a second or two after the first few
#: callbacks, and commands stamped meanwhile would sound that much late.
FLOWING_S = 0.5
FLOWING_TIMEOUT_S = 60.0


class SerialLine(Protocol):
    """The receiving end of the voice-board line."""

    path: str

    def read(self, timeout: float) -> bytes:
        """Bytes that arrived, waiting at most ``timeout`` seconds for the first."""

    def close(self) -> None: ...


class PtyLine:
    """A pseudo-terminal in raw mode: writers open :attr:`path`; the emulator reads.

    The emulator keeps the slave end open too, so a writer may come and go without the
    line hanging up.
    """

    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)

    def read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self._master], [], [], timeout)
        return os.read(self._master, 4096) if ready else b""

    def close(self) -> None:
        os.close(self._master)
        os.close(self._slave)


class UrlLine:
    """Any port pyserial can open by URL (``/dev/ttyUSB0``, ``socket://host:port``, ...)."""

    def __init__(self, url: str) -> None:
        import serial

        try:
            self._port = serial.serial_for_url(url, baudrate=SERIAL_BAUD, timeout=_POLL_S)
        except (serial.SerialException, ValueError) as error:
            raise OSError(f"cannot open serial port {url!r}: {error}") from error
        self.path = url

    def read(self, timeout: float) -> bytes:
        self._port.timeout = timeout
        return self._port.read(max(1, self._port.in_waiting))

    def close(self) -> None:
        self._port.close()


def open_line(spec: str) -> SerialLine:
    """``"pty"`` opens a new pseudo-terminal; anything else is a pyserial URL or device."""
    return PtyLine() if spec == "pty" else UrlLine(spec)


@dataclass(frozen=True)
class ServeConfig:
    """What the standalone emulator opens. ``None`` leaves a side closed."""

    serial: str | None = "pty"
    midi_in: str | None = None
    midi_backend: str = "mido.backends.rtmidi"
    audio_device: str | None = None  # None: PortAudio's default output; NO_AUDIO: none
    #: Which output channel plays the mix or which board (:mod:`daq.emulator.outputs`).
    outputs: OutputMap = field(default_factory=lambda: OutputMap.parse(MIX))
    sample_rate: int = 48000
    block_frames: int = 256
    seed: int = 0
    assigner: AssignerSettings = field(default_factory=AssignerSettings)
    #: Apply commands this long after they arrive, to the sample (:mod:`daq.emulator.timing`);
    #: None applies them at the next audio block.
    command_delay_s: float | None = None
    #: How much audio the output keeps queued (PortAudio's suggested latency); None: its
    #: "high" default (32 ms through PulseAudio). More rides out a loaded CPU without
    #: underruns, but the callbacks then run that much further ahead of their samples.
    output_latency_s: float | None = None

    def __post_init__(self) -> None:
        delay, latency = self.command_delay_s, self.output_latency_s
        if delay is not None and latency is not None and latency >= delay:
            raise ValueError(
                f"an output latency of {latency * 1000:.0f} ms runs the callbacks ahead of "
                f"the {delay * 1000:.0f} ms command delay: every command would come late"
            )


@dataclass
class Counters:
    """What went through, reported when the process stops."""

    serial_bytes: int = 0
    midi_messages: int = 0
    audio_blocks: int = 0
    audio_problems: int = 0  # under/overflows reported by PortAudio
    dropped_commands: int = 0  # cut short by a status byte (the 8031's rule)
    late_commands: int = 0  # came after the callbacks had passed their sample (delay too short)
    ignored_commands: int = 0  # no board acts on them (unknown status, voice past 5)


def _pump_serial(
    line: SerialLine,
    emulator: BoardEmulator | CommandScheduler,
    counters: Counters,
    stop: threading.Event,
) -> None:
    while not stop.is_set():
        data = line.read(_POLL_S)
        if data:
            counters.serial_bytes += len(data)
            emulator.feed(data)


@contextlib.contextmanager
def _thread(target: Callable[..., None], *args: object) -> Iterator[None]:
    """Run ``target(*args, stop)`` in a thread for the duration of the block."""
    stop = threading.Event()
    thread = threading.Thread(target=target, args=(*args, stop), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


#: MIDI OUT sends 3,125 bytes a second (31,250 baud, 10 bits a byte).
_MIDI_BYTES_PER_S = 3125


def _send_answers(answers: queue.Queue[bytes], output: Any, stop: threading.Event) -> None:
    """Send the assigner's answers as a MIDI OUT does: each message after its own wire time.

    A JACK MIDI port takes only a period's worth of bytes per cycle (256 at 64 frames), so
    an answer sent at once (309 bytes for the edit buffer) would lose messages.
    """
    import mido

    while not stop.is_set():
        try:
            wire = answers.get(timeout=_POLL_S)
        except queue.Empty:
            continue
        time.sleep(len(wire) / _MIDI_BYTES_PER_S)
        output.send(mido.Message.from_bytes(wire))


#: How often the MIDI input is polled: a message waits at most this long (well under a
#: JACK cycle at the rates the tests run).
_MIDI_POLL_S = 0.0002


def _pump_midi(
    midi_in: PolledInput,
    assigner: Assigner,
    emulator: BoardEmulator | CommandScheduler,
    counters: Counters,
    stop: threading.Event,
) -> None:
    """Play the MIDI input's messages in arrival order, from a thread of our own (see
    :mod:`daq.instruments.midi_input`: no Python in JACK's process thread)."""
    while not stop.is_set():
        wire = midi_in.poll()
        if wire is None:
            time.sleep(_MIDI_POLL_S)
            continue
        counters.midi_messages += 1
        emulator.feed(assigner.midi(wire))


@contextlib.contextmanager
def _open_midi_input(
    config: ServeConfig, emulator: BoardEmulator | CommandScheduler, counters: Counters
) -> Iterator[str]:
    """The virtual MIDI input the assigner listens on (its port name), and beside it a
    virtual output (``<port>-out``) where it answers requests (the OS4 edit-buffer
    request)."""
    out_name = f"{config.midi_in}-out"
    try:
        import mido

        backend = mido.Backend(config.midi_backend, load=True)
        output = backend.open_output(out_name, virtual=True, client_name=MIDI_ANSWER_CLIENT_NAME)
    except Exception as error:  # rtmidi has error types of its own; all mean "no port"
        raise OSError(
            f"cannot open MIDI output {out_name!r} with {config.midi_backend}: {error}"
        ) from error
    answers: queue.Queue[bytes] = queue.Queue()
    assigner = Assigner(config.assigner, answer=answers.put)
    emulator.feed(assigner.power_on())
    with output, _thread(_send_answers, answers, output):
        try:
            midi_in = PolledInput(config.midi_in or "", config.midi_backend, MIDI_CLIENT_NAME,
                                  virtual=True)  # fmt: skip
        except Exception as error:  # as above
            raise OSError(
                f"cannot open MIDI input {config.midi_in!r} with {config.midi_backend}: {error}"
            ) from error
        try:
            with _thread(_pump_midi, midi_in, assigner, emulator, counters):
                yield str(config.midi_in)
        finally:
            midi_in.close()


def _audio_output(
    config: ServeConfig,
    emulator: BoardEmulator,
    counters: Counters,
    scheduler: CommandScheduler | None = None,
) -> contextlib.AbstractContextManager[object]:
    import sounddevice as sd

    def callback(outdata: np.ndarray, frames: int, time: object, status: object) -> None:
        if status:
            counters.audio_problems += 1
        if scheduler is None:
            boards = emulator.process(frames)
        else:
            boards = scheduler.process(frames, time.outputBufferDacTime)
        config.outputs.fill(boards, outdata)
        counters.audio_blocks += 1

    try:
        return sd.OutputStream(
            samplerate=emulator.sample_rate,
            blocksize=config.block_frames,
            device=config.audio_device,
            channels=config.outputs.channels,
            latency="high" if config.output_latency_s is None else config.output_latency_s,
            dtype="float32",
            callback=callback,
        )
    except (sd.PortAudioError, ValueError) as error:
        raise OSError(f"cannot open audio output {config.audio_device!r}: {error}") from error


def _stream_clock(stream: Any) -> Callable[[], float]:
    """The output stream's time; while PortAudio cannot tell it (it fails for a moment as
    ALSA recovers from an underrun), the monotonic clock at the offset it last had. A raise
    would end the serial thread, and with it every command after."""
    import sounddevice as sd

    offset = [stream.time - time.monotonic()]

    def clock() -> float:
        try:
            now = stream.time
        except sd.PortAudioError:
            return time.monotonic() + offset[0]
        offset[0] = now - time.monotonic()
        return now

    return clock


def _wait_until_flowing(counters: Counters, block_s: float, config: ServeConfig) -> None:
    """Return once the output callbacks have computed (nearly) as much audio as time went by
    for :data:`FLOWING_S` in a row, so that a command's sound comes when it is due."""
    deadline = time.monotonic() + FLOWING_TIMEOUT_S
    while time.monotonic() < deadline:
        blocks_before, since = counters.audio_blocks, time.monotonic()
        time.sleep(FLOWING_S)
        produced_s = (counters.audio_blocks - blocks_before) * block_s
        if produced_s >= 0.8 * (time.monotonic() - since):
            return
    raise OSError(
        f"audio output {config.audio_device!r} does not keep up with real time "
        f"(its callbacks stalled for {FLOWING_TIMEOUT_S:.0f} s)"
    )


def _pace(emulator: BoardEmulator, config: ServeConfig, stop: threading.Event) -> None:
    """Without an audio device, voices still move on in real time (envelopes, LFOs)."""
    for _ in blocks(emulator, config.block_frames, realtime=True):
        if stop.is_set():
            return


def serve(
    config: ServeConfig,
    stop: threading.Event,
    announce: Callable[[str], None] = print,
    emulator: BoardEmulator | None = None,
) -> Counters:
    """Open every side of ``config``, announce each, run until ``stop`` is set.

    Announcements are ``serial: PATH``, ``midi-in: PORT``, ``midi-out: PORT``,
    ``audio: DEVICE ...`` and finally ``ready``; a caller (or a test) waits for ``ready``
    before it writes. Pass ``emulator`` to look at the boards from the same process (its
    sample rate wins over the config's).
    """
    emulator = emulator or BoardEmulator(config.sample_rate, config.seed)
    warm_up(emulator.sample_rate, config.block_frames)  # no kernel compiles mid-callback
    switch = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)  # bytes are stamped soon after they arrive
    counters = Counters()
    scheduler = None
    if config.command_delay_s is not None and config.audio_device != NO_AUDIO:
        scheduler = CommandScheduler(emulator, config.command_delay_s)
    sink = scheduler or emulator  # where commands go: at once, or at their sample
    with contextlib.ExitStack() as stack:
        if config.serial is not None:
            line = open_line(config.serial)
            stack.callback(line.close)
            stack.enter_context(_thread(_pump_serial, line, sink, counters))
            announce(f"serial: {line.path}")
        if config.midi_in is not None:
            port = stack.enter_context(_open_midi_input(config, sink, counters))
            announce(f"midi-in: {MIDI_CLIENT_NAME}:{port}")  # as other clients list it
            announce(f"midi-out: {MIDI_ANSWER_CLIENT_NAME}:{port}-out")
        if config.audio_device == NO_AUDIO:
            stack.enter_context(_thread(_pace, emulator, config))
            announce("audio: none (paced by the wall clock)")
        else:
            stream = stack.enter_context(_audio_output(config, emulator, counters, scheduler))
            _wait_until_flowing(counters, config.block_frames / emulator.sample_rate, config)
            if scheduler is not None:
                scheduler.attach(_stream_clock(stream))
            outputs = config.outputs
            announce(
                f"audio: {config.audio_device or 'default'} at {emulator.sample_rate} Hz, "
                f"{outputs.channels} channel(s): {outputs}"
            )
        announce("ready")
        stop.wait()
    sys.setswitchinterval(switch)
    counters.dropped_commands = emulator.parser.dropped
    counters.late_commands = 0 if scheduler is None else scheduler.late
    counters.ignored_commands = emulator.ignored
    return counters
