"""A sounddevice (PortAudio) input stream kept open for a whole job, feeding a ring buffer.

sounddevice is imported lazily so the catalog, API and training run without PortAudio.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from daq.audio.ring import AudioTimeout, RingBuffer, StreamClock


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
        self.buffer.wait_for(self._blocksize, timeout_s=5.0)

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
