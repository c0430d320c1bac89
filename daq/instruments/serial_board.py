"""A Super JX / JX-8P sound board driven directly over its voice-board serial line.

Any pyserial URL works (``/dev/ttyUSB0``, ``spy:///dev/ttyUSB0``, ``loop://``, a pty path),
so tests exercise the code that runs in the lab. The line runs at 31250 baud 8N1; writes
are paced at that rate even where the port itself does not pace them (a pty, a bridge with
a fast USB side), so timing on the emulator matches timing on the real board.
"""

from __future__ import annotations

import time
from typing import Any

from daq.instruments.allocation import VoiceAllocator
from daq.instruments.base import InstrumentError
from firmware_protocol import soundboard as sb
from firmware_protocol.tone import Tone

#: 8N1: a start bit, 8 data bits and a stop bit per byte.
BITS_PER_BYTE = 10


class SerialVoiceBoard:
    """One sound board (upper, lower or both) behind a serial port."""

    def __init__(
        self,
        url: str,
        name: str = "voice-board",
        board: sb.Board = sb.Board.UPPER,
        baudrate: int = 31250,
        paced: bool = True,
    ) -> None:
        self.name = name
        self.url = url
        self.board = board
        self.baudrate = baudrate
        self.paced = paced
        self._port: Any = None
        self._tone: Tone | None = None
        self._voices = VoiceAllocator()
        self._line_free_at = 0.0

    # -- connection -----------------------------------------------------------------------
    def open(self) -> None:
        import serial

        try:
            self._port = serial.serial_for_url(
                self.url, baudrate=self.baudrate, bytesize=8, parity="N", stopbits=1,
                write_timeout=2.0,
            )  # fmt: skip
        except (serial.SerialException, ValueError) as error:
            raise InstrumentError(
                f"{self.name}: cannot open serial port {self.url}: {error}"
            ) from error
        self.reset()

    def close(self) -> None:
        if self._port is not None:
            self._port.close()
            self._port = None

    def _write(self, data: bytes) -> None:
        """Write and wait until the bytes are on the line (paced at the baud rate)."""
        import serial

        if self._port is None:
            raise InstrumentError(f"{self.name}: serial port {self.url} is not open")
        if self.paced:
            wait = self._line_free_at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as error:
            raise InstrumentError(f"{self.name}: serial port {self.url} failed: {error}") from error
        self._line_free_at = time.monotonic() + len(data) * BITS_PER_BYTE / self.baudrate

    # -- instrument -----------------------------------------------------------------------
    def reset(self) -> None:
        self._write(sb.encode_init() + sb.encode_select(self.board) + sb.encode_all_notes_off())
        self._tone = None
        self._voices.clear()

    def program(self, tone: Tone) -> None:
        changes = sb.encode_tone(tone, previous=self._tone)
        if changes:
            self._write(sb.encode_select(self.board) + changes)
        self._tone = tone

    def note_on(self, key: int, velocity: int) -> None:
        self._write(sb.encode_note_on(self._voices.on(key), key, velocity))

    def note_off(self, key: int) -> None:
        voice = self._voices.off(key)
        if voice is not None:
            self._write(sb.encode_note_off(voice, key))

    def all_notes_off(self) -> None:
        for key, voice in self._voices.sounding().items():
            self._write(sb.encode_note_off(voice, key))
        self._voices.clear()
        self._write(sb.encode_select(self.board) + sb.encode_all_notes_off())

    def line_time_s(self, data_bytes: int) -> float:
        """How long ``data_bytes`` take on the wire: a full tone is ~28 ms."""
        return data_bytes * BITS_PER_BYTE / self.baudrate
