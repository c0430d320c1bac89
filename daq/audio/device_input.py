"""A sounddevice (PortAudio) input stream kept open for a whole job, feeding a ring buffer.

One stream may carry several lanes (a board each, on an input of its own of one interface):
:meth:`DeviceInput.select` gives each lane its own channels of the stream, on the stream's
one clock. sounddevice is imported lazily so the catalog, API and training run without
PortAudio.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from daq.audio.ring import AudioTimeout, ChannelSelection, RingBuffer, StreamClock

#: The stream clock counts as steady once ``frame_at(now)`` stays this close to the frames
#: delivered so far for STEADY_S: PortAudio's ALSA/PulseAudio timestamps can be a few hundred
#: milliseconds off for the first 0.2-0.8 s of a stream, and a note stamped then lands wrong.
CLOCK_TOLERANCE_S = 0.025
STEADY_S = 0.2
STEADY_TIMEOUT_S = 5.0


class DeviceInput:
    """Records continuously from a PortAudio device; takes are cut out by frame index.

    ``now()`` reads the stream's own clock, the one the callback timestamps use, so an
    event's time (a note-on written to the synth) maps onto the exact recorded frame.
    """

    def __init__(
        self,
        device: str | int | None,
        sample_rate: int,
        channels: int = 1,
        buffer_s: float = 120.0,
        blocksize: int = 256,
    ) -> None:
        self.device = device
        self.sample_rate = sample_rate
        self.channels = channels
        self.buffer = RingBuffer(int(buffer_s * sample_rate), channels)
        self.clock = StreamClock(sample_rate)
        self._blocksize = blocksize
        self._stream: Any = None
        self.status_flags: list[str] = []
        self._lock = threading.Lock()

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if status:
            with self._lock:
                self.status_flags.append(str(status))
        self.clock.anchor(self.buffer.written, time_info.inputBufferAdcTime)
        self.buffer.write(indata)

    def start(self) -> None:
        import sounddevice as sd

        try:
            self._stream = sd.InputStream(
                device=self.device,
                samplerate=self.sample_rate,
                channels=self.channels,
                dtype="float32",
                blocksize=self._blocksize,
                callback=self._callback,
            )
            self._stream.start()
        except Exception as error:  # PortAudio raises several types; name the device
            raise AudioTimeout(f"cannot open audio input {self.device!r}: {error}") from error
        try:
            self.buffer.wait_for(self._blocksize, timeout_s=5.0)
            self.wait_for_steady_clock()
        except AudioTimeout:
            self.stop()  # the caller never gets a stream to close
            raise

    def wait_for_steady_clock(self) -> None:
        """Return once the stream clock maps 'now' onto the frames being delivered.

        :meth:`start` waits for it, so every take (and every calibration note) is stamped on
        a clock that tells the truth; raises :class:`AudioTimeout` if it never settles.
        """
        deadline = time.monotonic() + STEADY_TIMEOUT_S
        steady_since: float | None = None
        while True:
            gap = abs(self.clock.frame_at(self.now()) - self.buffer.written) / self.sample_rate
            now = time.monotonic()
            if gap > CLOCK_TOLERANCE_S:
                steady_since = None
            elif steady_since is None:
                steady_since = now
            elif now - steady_since >= STEADY_S:
                return
            if now > deadline:
                raise AudioTimeout(
                    f"audio input {self.device!r}: its stream clock stays {gap * 1000:.0f} ms "
                    "away from the frames it delivers; cannot time notes on it"
                )
            time.sleep(0.01)

    def select(self, channels: int | Sequence[int]) -> SelectedInput:
        """A lane's view of this input: ``channels`` (indices from 0) of the one stream,
        read as an input of their own; its clock, frames and status flags are the stream's."""
        return SelectedInput(self, (channels,) if isinstance(channels, int) else channels)

    def now(self) -> float:
        """Current time on the stream's clock (seconds)."""
        return float(self._stream.time)

    @property
    def latency_s(self) -> float:
        """Input latency PortAudio reports (already reflected in callback timestamps)."""
        return float(self._stream.latency)

    def stop(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None

    def __enter__(self) -> DeviceInput:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SelectedInput:
    """Some channels of a :class:`DeviceInput`, with what a capture needs of an input.

    It opens and closes nothing: the device's owner keeps the stream open for every lane.
    """

    def __init__(self, device: DeviceInput, channels: Sequence[int]) -> None:
        try:
            self.buffer = ChannelSelection(device.buffer, channels)
        except ValueError as error:
            raise ValueError(f"audio input {device.device!r}: {error}") from None
        self.device = device
        self.sample_rate = device.sample_rate
        self.clock = device.clock
        self.status_flags = device.status_flags  # the stream's: one list, shared

    @property
    def channels(self) -> int:
        return self.buffer.channels

    def now(self) -> float:
        return self.device.now()

    @property
    def latency_s(self) -> float:
        return self.device.latency_s
